//! The local etcd cluster the replica tests and `cargo xtask cluster` start.

use wayfinder_acceptance::etcd::{LocalEtcd, healthy};

#[test]
fn a_local_etcd_cluster_starts_loses_a_member_and_takes_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut etcd =
        LocalEtcd::start(dir.path(), 3).expect("etcd starts (apt-get install etcd-server)");
    assert_eq!(etcd.endpoints().split(',').count(), 3);
    let port = etcd.members()[1].client_port;
    assert!(healthy(port));
    etcd.kill(1);
    assert!(!healthy(port), "a killed member does not answer");
    // The two others keep a quorum (electing a new leader first if the killed one led).
    etcd.wait_healthy(std::time::Duration::from_secs(30))
        .expect("the others keep a quorum");
    assert!(healthy(etcd.members()[0].client_port));
    etcd.restart(1).unwrap();
    etcd.wait_healthy(std::time::Duration::from_secs(30))
        .unwrap();
    assert!(healthy(port));
}
