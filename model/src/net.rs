//! IPv4 networks in CIDR notation: parsing, containment and overlap.

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 network, e.g. `10.20.0.0/22`; the address has no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Net {
    /// The network address, as a big-endian integer.
    pub addr: u32,
    /// The prefix length, 0 to 32.
    pub prefix: u8,
}

impl Ipv4Net {
    /// Parses `a.b.c.d/n`. Host bits must be zero, so that a typo is not silently widened.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or("expected ADDRESS/PREFIX, e.g. 10.0.0.0/16")?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("prefix {prefix:?} must be a number from 0 to 32"))?;
        let addr = u32::from(addr);
        let net = Self {
            addr: addr & mask(prefix),
            prefix,
        };
        if net.addr != addr {
            return Err(format!("host bits are set; the network is {net}"));
        }
        Ok(net)
    }

    /// The number of addresses.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// The last address in the network, as a big-endian integer.
    pub fn last(&self) -> u32 {
        self.addr | !mask(self.prefix)
    }

    /// Whether `other` lies wholly inside this network.
    pub fn contains(&self, other: &Ipv4Net) -> bool {
        other.prefix >= self.prefix && other.addr & mask(self.prefix) == self.addr
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other) || other.contains(self)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_compares() {
        let a = Ipv4Net::parse("10.0.0.0/16").unwrap();
        let b = Ipv4Net::parse("10.0.4.0/22").unwrap();
        let c = Ipv4Net::parse("10.1.0.0/16").unwrap();
        assert!(a.contains(&b) && !b.contains(&a));
        assert!(a.overlaps(&b) && b.overlaps(&a) && !a.overlaps(&c));
        assert_eq!(b.size(), 1024);
        assert_eq!(Ipv4Net::parse("0.0.0.0/0").unwrap().size(), 1 << 32);
        assert_eq!(
            Ipv4Net::parse("10.0.0.1/16").unwrap_err(),
            "host bits are set; the network is 10.0.0.0/16"
        );
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "x/8", "10.0.0.0/-1"] {
            assert!(Ipv4Net::parse(bad).is_err(), "{bad}");
        }
    }
}
