//! Workspace isolation on every path: a member or owner of workspace `web` is refused
//! (`403`, naming workspace `pay` and the roles that would do) whatever it asks of workspace
//! `pay` — list, get, dry run, create, update, delete, credentials, the effective policy —
//! while an owner of `pay` (or the administrator, for administrator-only kinds) is let
//! through on the same request. Nothing of `pay` changes, and a workspace that does not
//! exist is refused the same way (no oracle for what exists elsewhere).

mod common;
mod fixtures;

use common::{TestServer, assert_status};
use fixtures::{CLUSTERS_PAY, TOKENS, as_, cluster, create, doc, platform, token};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One request of the table.
struct Row {
    what: String,
    method: Method,
    path: String,
    body: Option<Value>,
    /// Who must be let through (anything but 403) on the same request: `None` for real
    /// writes, which are only checked to be refused.
    control: Option<Control>,
}

#[derive(Clone, Copy, Debug)]
enum Control {
    OwnerPay,
    Admin,
}

fn renamed(mut v: Value, name: &str) -> Value {
    v["metadata"]["name"] = json!(name);
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("namespace");
        m.remove("resourceVersion");
    }
    v
}

/// Everything workspace `pay` holds, as the administrator lists it: kind → items.
async fn snapshot(s: &TestServer, collections: &[String]) -> Vec<Value> {
    let mut all = Vec::new();
    for c in collections {
        let (status, list) = s.json(Method::GET, c, None).await;
        assert_eq!(status, StatusCode::OK, "{c}: {list}");
        all.push(list["items"].clone());
    }
    all
}

#[tokio::test]
async fn another_workspace_is_refused_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    platform(&s).await;
    create(&s, &cluster()).await;
    let mut cac = doc("cloud_access_config.yaml", "aws-nonprod");
    cac["metadata"]["namespace"] = json!("ws-pay");
    create(&s, &cac).await;
    let _deployer = token(&s, "pay", "deployer", &["member"]).await;
    let owner_pay = token(&s, "pay", "owner", &["owner"]).await;
    let member_web = token(&s, "web", "member", &["member"]).await;
    let owner_web = token(&s, "web", "owner", &["owner"]).await;

    let cacs = "/resources/cloudaccess.appvia.io/v2beta2/workspaces/pay/cloudaccessconfigs";
    let toks = format!("{TOKENS}/pay/accesstokens");
    let collections = [CLUSTERS_PAY.to_string(), cacs.to_string(), toks.clone()];
    let before = snapshot(&s, &collections).await;

    // (kind, collection, existing object, a new object)
    let new_token = json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "AccessToken",
        "metadata": {"name": "stolen"},
        "spec": {"description": "x", "roles": ["member"], "ttl": "1h"}});
    let subjects = [
        (
            "Cluster",
            CLUSTERS_PAY.to_string(),
            "payments-dev",
            renamed(cluster(), "intruder"),
            Control::OwnerPay,
        ),
        (
            "AccessToken",
            toks.clone(),
            "deployer",
            new_token,
            Control::OwnerPay,
        ),
        (
            "CloudAccessConfig",
            cacs.to_string(),
            "aws-nonprod",
            renamed(cac.clone(), "intruder"),
            Control::Admin,
        ),
    ];
    let mut rows = Vec::new();
    for (kind, coll, existing, new, control) in &subjects {
        let item = format!("{coll}/{existing}");
        let (_, mut current) = s.json(Method::GET, &item, None).await;
        current["metadata"]["annotations"] = json!({"changed": "by another workspace"});
        let reads = [
            ("list", Method::GET, coll.clone(), None),
            (
                "list with a label selector",
                Method::GET,
                format!("{coll}?labelSelector=a%3Db"),
                None,
            ),
            ("get", Method::GET, item.clone(), None),
            (
                "get of a missing name",
                Method::GET,
                format!("{coll}/nope"),
                None,
            ),
        ];
        let dry = [
            (
                "dry-run create",
                Method::POST,
                format!("{coll}?dryRun=All"),
                Some(new.clone()),
            ),
            (
                "dry-run update",
                Method::PUT,
                format!("{item}?dryRun=All"),
                Some(current.clone()),
            ),
            (
                "dry-run delete",
                Method::DELETE,
                format!("{item}?dryRun=All"),
                None,
            ),
        ];
        let writes = [
            ("create", Method::POST, coll.clone(), Some(new.clone())),
            ("update", Method::PUT, item.clone(), Some(current.clone())),
            ("delete", Method::DELETE, item.clone(), None),
        ];
        // Reads of administrator-only kinds are open to the workspace's members: the
        // control for reads is the owner of pay whatever the kind.
        let controlled = (reads.into_iter().map(|r| (r, Some(Control::OwnerPay))))
            .chain(dry.into_iter().map(|r| (r, Some(*control))))
            .chain(writes.into_iter().map(|r| (r, None)));
        for ((what, method, path, body), control) in controlled {
            rows.push(Row {
                what: format!("{kind} {what}"),
                method,
                path,
                body,
                control,
            });
        }
    }
    rows.push(Row {
        what: "Cluster credentials".into(),
        method: Method::POST,
        path: format!("{CLUSTERS_PAY}/payments-dev/credentials"),
        body: Some(json!({"ttl": "10m"})),
        control: Some(Control::OwnerPay),
    });
    rows.push(Row {
        what: "Cluster credentials of a missing cluster".into(),
        method: Method::POST,
        path: format!("{CLUSTERS_PAY}/nope/credentials"),
        body: None,
        control: Some(Control::OwnerPay),
    });
    rows.push(Row {
        what: "effective provisioning policy".into(),
        method: Method::GET,
        path: "/api/v2/workspaces/pay/provisioningpolicy/aws/nonprod/cluster".into(),
        body: None,
        control: Some(Control::OwnerPay),
    });

    let mut refused = 0;
    let mut let_through = 0;
    for row in &rows {
        for (who, tok) in [("member of web", &member_web), ("owner of web", &owner_web)] {
            let (status, body) =
                as_(&s, tok, row.method.clone(), &row.path, row.body.as_ref()).await;
            let line = format!(
                "{who}: {} ({} {}): {status} {body}",
                row.what, row.method, row.path
            );
            assert_eq!(status, StatusCode::FORBIDDEN, "{line}");
            assert_status(&body, 403, "Forbidden");
            let message = body["message"].as_str().unwrap();
            assert!(message.contains("workspace pay"), "{line}");
            assert!(message.contains("needs"), "{line}");
            assert!(
                message.contains("accesstoken/web/"),
                "the message names who asked: {line}"
            );
            refused += 1;
        }
        if let Some(control) = row.control {
            let tok = match control {
                Control::OwnerPay => owner_pay.clone(),
                Control::Admin => s.token.clone(),
            };
            let (status, body) =
                as_(&s, &tok, row.method.clone(), &row.path, row.body.as_ref()).await;
            assert_ne!(
                status,
                StatusCode::FORBIDDEN,
                "{control:?} is let through on {} ({} {}): {body}",
                row.what,
                row.method,
                row.path
            );
            let_through += 1;
        }
    }
    eprintln!(
        "{} requests of another workspace refused, {let_through} controls let through",
        refused
    );
    assert_eq!(refused, rows.len() * 2);

    // A workspace that does not exist is refused the same way as one that does.
    let ghost = "/resources/compute.appvia.io/v2beta2/workspaces/ghost/clusters";
    for path in [ghost.to_string(), format!("{ghost}/x")] {
        let (status, body) = as_(&s, &member_web, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("workspace ghost")
        );
    }

    // Its own collection with pay's namespace in the body: refused, naming the mismatch.
    let mut smuggled = renamed(cluster(), "smuggled");
    smuggled["metadata"]["namespace"] = json!("ws-pay");
    let (status, body) = as_(
        &s,
        &member_web,
        Method::POST,
        "/resources/compute.appvia.io/v2beta2/workspaces/web/clusters?dryRun=All",
        Some(&smuggled),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("does not match workspace web"),
        "{body}"
    );

    // Nothing of pay changed.
    let after = snapshot(&s, &collections).await;
    assert_eq!(before, after, "workspace pay changed");
    s.stop().await;
}
