//! A small XML tree for the answers of AWS's Query-protocol services (EC2, IAM), built with
//! `xmlparser` (already in the SDK's dependency tree).

/// One element: its local name, its text and its children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// Parses a whole document; `None` when it is not well-formed XML.
    pub fn parse(text: &str) -> Option<Element> {
        let mut stack: Vec<Element> = vec![Element::default()];
        for token in xmlparser::Tokenizer::from(text) {
            match token.ok()? {
                xmlparser::Token::ElementStart { local, .. } => stack.push(Element {
                    name: local.as_str().to_string(),
                    ..Element::default()
                }),
                xmlparser::Token::ElementEnd { end, .. } => match end {
                    xmlparser::ElementEnd::Open => {}
                    xmlparser::ElementEnd::Close(..) | xmlparser::ElementEnd::Empty => {
                        let done = stack.pop()?;
                        stack.last_mut()?.children.push(done);
                    }
                },
                xmlparser::Token::Text { text } => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&unescape(text.as_str()));
                    }
                }
                xmlparser::Token::Cdata { text, .. } => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(text.as_str());
                    }
                }
                _ => {}
            }
        }
        let mut root = stack.pop()?;
        if !stack.is_empty() {
            return None;
        }
        root.children.pop()
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child named `name`, trimmed.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// The first element named `name` anywhere below (depth first).
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else {
                c.find(name)
            }
        })
    }

    /// The text of the first element named `name` anywhere below, trimmed.
    pub fn find_text(&self, name: &str) -> Option<&str> {
        self.find(name).map(|e| e.text.trim())
    }

    /// The children of the first descendant named `list` (e.g. `vpcSet` → its `item`s).
    pub fn items(&self, list: &str) -> Vec<&Element> {
        self.find(list)
            .map(|l| l.children.iter().collect())
            .unwrap_or_default()
    }

    /// An EC2 `tagSet` / IAM `Tags` as (key, value) pairs.
    pub fn tag(&self, key: &str) -> Option<&str> {
        let tags = self.child("tagSet").or_else(|| self.child("Tags"))?;
        tags.children.iter().find_map(|t| {
            let k = t.text_of("key").or_else(|| t.text_of("Key"))?;
            (k == key).then(|| t.text_of("value").or_else(|| t.text_of("Value")))?
        })
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ec2_answer_parses_into_items_with_tags() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <vpcSet><item><vpcId>vpc-1</vpcId><cidrBlock>10.0.4.0/22</cidrBlock>
    <tagSet><item><key>wayfinder.dev/uid</key><value>u&amp;1</value></item></tagSet></item></vpcSet>
</DescribeVpcsResponse>"#;
        let root = Element::parse(doc).unwrap();
        assert_eq!(root.name, "DescribeVpcsResponse");
        let vpcs = root.items("vpcSet");
        assert_eq!(vpcs.len(), 1);
        assert_eq!(vpcs[0].text_of("vpcId"), Some("vpc-1"));
        assert_eq!(vpcs[0].tag("wayfinder.dev/uid"), Some("u&1"));
        assert_eq!(vpcs[0].tag("other"), None);
    }

    #[test]
    fn broken_xml_is_none_not_a_panic() {
        assert_eq!(Element::parse("<a><b></a>"), None);
        assert_eq!(Element::parse("not xml <"), None);
    }
}
