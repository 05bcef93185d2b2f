//! Store write throughput, against raw durable single-row SQLite inserts (one transaction
//! per insert, WAL, `synchronous=FULL`) on the same disk in the same run:
//! - creates/second of compute templates through the real HTTP API at concurrency 16
//!   (validation only, group commit);
//! - admitted Cluster creates/second at concurrency 16 in one workspace: validation,
//!   reference resolution, provisioning policy and cost for every create, with the
//!   reconciler running.
//!
//! `cargo bench -p wayfinder-controlplane --bench store` (optional arguments:
//! `API_CREATES RAW_INSERTS CLUSTER_CREATES`). Not a timed test: it only reports.
//!
//! With `--json [--rounds=K]` (what `cargo xtask bench` runs) it takes K rounds of admitted
//! Cluster creates, each followed by raw durable inserts into the same SQLite file (the
//! store's `wayfinder.db`, once the server has stopped), and prints one JSON object with
//! each round's rates and latency percentiles.
//!
//! With `--json --etcd [--rounds=K]` (built with `--features etcd`; what `cargo xtask bench`
//! runs for its etcd row) it starts a 3-member etcd cluster on loopback (`etcd` on `PATH` or
//! `$WAYFINDER_ETCD`) and takes K rounds, each: two in-process replicas on a fresh key
//! prefix, the platform published, admitted Cluster creates from 16 clients alternating
//! between the replicas; then, on the same etcd cluster, single-key create-if-absent txns
//! (`wayfinder_etcd::Etcd::commit`) from 16 concurrent tasks. Positional arguments:
//! `CLUSTER_CREATES RAW_TXNS`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wayfinder_controlplane::{Config, Server};

#[cfg(feature = "etcd")]
#[allow(dead_code)]
#[path = "../../tests/acceptance/src/etcd.rs"]
mod local_etcd;

/// The allocator `wayfinder-server` ships with (see its `main.rs`): this benchmark runs the
/// server in-process and should measure it as shipped (the client shares it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONCURRENCY: usize = 16;
const COLLECTION: &str = "/resources/compute.appvia.io/v2beta2/computetemplates";

fn template(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "compute.appvia.io/v2beta2",
        "kind": "ComputeTemplate",
        "metadata": {"name": name},
        "spec": {
            "description": "General purpose",
            "provider": "EKS",
            "nodePools": [{
                "logicalName": "compute", "machine": "m6i.large", "diskSize": 100, "size": 2,
                "autoscaling": {"enabled": true, "minSize": 1, "maxSize": 5}
            }]
        }
    })
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let rounds: usize = std::env::args()
        .find_map(|a| a.strip_prefix("--rounds=")?.parse().ok())
        .unwrap_or(1);
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let api_creates: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let raw_inserts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let cluster_creates: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(400);
    // Beside the target directory, so both measurements hit the same (real) disk.
    let base = option_env!("CARGO_TARGET_TMPDIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).expect("bench directory");
    let dir = tempfile::tempdir_in(&base).expect("temporary directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::args().any(|a| a == "--etcd") {
        #[cfg(feature = "etcd")]
        {
            let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
            let clusters: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(400);
            let txns: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(400);
            let rounds = runtime.block_on(etcd_rounds(dir.path(), rounds, clusters, txns));
            println!(
                "{}",
                json!({"concurrency": CONCURRENCY, "replicas": 2, "members": 3, "rounds": rounds})
            );
            return;
        }
        #[cfg(not(feature = "etcd"))]
        {
            eprintln!(
                "--etcd needs the etcd backend: cargo bench -p wayfinder-controlplane --features etcd --bench store -- --json --etcd"
            );
            std::process::exit(2);
        }
    }
    if json {
        let rounds: Vec<_> = (0..rounds)
            .map(|r| {
                let data = dir.path().join(format!("round-{r}"));
                let clusters = runtime.block_on(cluster_creates_per_second(&data, cluster_creates));
                let raw = raw_inserts_per_second(&data.join("wayfinder.db"), raw_inserts);
                json!({
                    "cluster_creates": cluster_creates,
                    "cluster_creates_per_s": clusters.per_second,
                    "cluster_p50_ms": clusters.percentile_ms(50.0),
                    "cluster_p99_ms": clusters.percentile_ms(99.0),
                    "raw_inserts": raw_inserts,
                    "raw_inserts_per_s": raw.per_second,
                    "raw_p50_ms": raw.percentile_ms(50.0),
                    "raw_p99_ms": raw.percentile_ms(99.0),
                })
            })
            .collect();
        println!("{}", json!({"concurrency": CONCURRENCY, "rounds": rounds}));
        return;
    }

    let raw = raw_inserts_per_second(&dir.path().join("raw.db"), raw_inserts).per_second;
    let api = runtime.block_on(api_creates_per_second(
        &dir.path().join("data"),
        api_creates,
    ));
    let clusters = runtime
        .block_on(cluster_creates_per_second(
            &dir.path().join("clusters"),
            cluster_creates,
        ))
        .per_second;

    println!("store bench (directory {})", dir.path().display());
    println!(
        "  raw durable single-row inserts (1 txn each, WAL, synchronous=FULL): {raw:>9.1} /s  ({raw_inserts} inserts)"
    );
    println!(
        "  HTTP API creates, concurrency {CONCURRENCY} (group commit):           {api:>9.1} /s  ({api_creates} creates)"
    );
    println!("  ratio API / raw: {:.2}", api / raw);
    println!(
        "  admitted Cluster creates, concurrency {CONCURRENCY}, one workspace:   {clusters:>9.1} /s  ({cluster_creates} creates)"
    );
    println!("  ratio admitted clusters / raw: {:.2}", clusters / raw);
}

/// A rate, and how long each operation took.
struct Throughput {
    per_second: f64,
    latencies: Vec<Duration>,
}

impl Throughput {
    fn percentile_ms(&self, p: f64) -> f64 {
        let mut v = self.latencies.clone();
        v.sort();
        let i = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v.get(i.saturating_sub(1).min(v.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    }
}

fn raw_inserts_per_second(path: &std::path::Path, n: usize) -> Throughput {
    let conn = rusqlite::Connection::open(path).expect("raw db");
    let _: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("WAL");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("FULL");
    conn.execute_batch("CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .expect("table");
    let body = template("raw").to_string();
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let one = Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        conn.execute(
            "INSERT INTO bench_raw (id, body) VALUES (?1, ?2)",
            rusqlite::params![i as i64, body],
        )
        .expect("insert");
        conn.execute_batch("COMMIT").expect("commit");
        latencies.push(one.elapsed());
    }
    Throughput {
        per_second: n as f64 / start.elapsed().as_secs_f64(),
        latencies,
    }
}

async fn api_creates_per_second(data_dir: &std::path::Path, n: usize) -> f64 {
    let config = Config::new("127.0.0.1:0".parse().unwrap(), data_dir.to_path_buf());
    let server = Server::bind(config).await.expect("server binds");
    let url = format!("{}{COLLECTION}", server.url());
    let token = std::fs::read_to_string(server.admin_token_file()).expect("admin token");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    // Warm up connections.
    for i in 0..CONCURRENCY {
        let r = client
            .post(&url)
            .bearer_auth(&token)
            .json(&template(&format!("warm{i}")))
            .send()
            .await
            .expect("warm-up create");
        assert!(r.status().is_success(), "{}", r.status());
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, token, next) =
                (client.clone(), url.clone(), token.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&template(&format!("t{i}")))
                        .send()
                        .await
                        .expect("create");
                    assert_eq!(r.status().as_u16(), 201, "create t{i}");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let _ = stop.send(());
    task.await.expect("server task").expect("server stops");
    rate
}

/// A model fixture document (`model/tests/data/{file}`) named `name`, as JSON.
fn fixture(file: &str, name: &str) -> serde_json::Value {
    let path = format!("{}/../model/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| {
            let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(d).expect("yaml");
            serde_json::to_value(v).expect("json")
        })
        .find(|d| d["metadata"]["name"] == name)
        .expect("named fixture")
}

async fn cluster_creates_per_second(data_dir: &std::path::Path, n: usize) -> Throughput {
    let config = Config::new("127.0.0.1:0".parse().unwrap(), data_dir.to_path_buf());
    let server = Server::bind(config).await.expect("server binds");
    let base = server.url();
    let token = std::fs::read_to_string(server.admin_token_file()).expect("admin token");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let _ = publish_platform(&client, &base, &token).await;
    let throughput = create_clusters(&client, &[base], &token, n).await;
    let _ = stop.send(());
    task.await.expect("server task").expect("server stops");
    throughput
}

/// The platform a cluster needs, as the admission tests build it, through `base`; the path
/// of the last object published.
async fn publish_platform(client: &reqwest::Client, base: &str, token: &str) -> String {
    let mut last = String::new();
    let stage = json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "Stage",
        "metadata": {"name": "nonprod"}, "spec": {"displayName": "Non-production"}});
    let mut platform = vec![fixture("workspace.yaml", "pay"), stage];
    for (file, name) in [
        ("cloud_identity.yaml", "cloudidentity-aws"),
        ("cloud_access_config.yaml", "aws-nonprod"),
        ("assignable_network.yaml", "aws-nonprod"),
        ("cluster_network_plan.yaml", "eks-assignable"),
        ("compute_template.yaml", "eks-general-purpose"),
        ("repository.yaml", "jetstack"),
        ("package.yaml", "external-dns"),
        ("package.yaml", "cert-manager"),
        ("cluster_plan.yaml", "eks-general-purpose"),
    ] {
        platform.push(fixture(file, name));
    }
    for object in &platform {
        let info = wayfinder_model::kinds::by_api_version_kind(
            object["apiVersion"].as_str().unwrap_or_default(),
            object["kind"].as_str().unwrap_or_default(),
        )
        .expect("a known kind");
        let ws = object["metadata"]["namespace"]
            .as_str()
            .and_then(|n| n.strip_prefix("ws-"));
        let path = match ws {
            Some(ws) => format!(
                "/resources/{}/{}/workspaces/{ws}/{}",
                info.group, info.version, info.plural
            ),
            None => format!("/resources/{}/{}/{}", info.group, info.version, info.plural),
        };
        let r = client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(object)
            .send()
            .await
            .expect("create");
        assert!(
            r.status().is_success(),
            "{path}: {}",
            r.text().await.unwrap_or_default()
        );
        last = format!(
            "{path}/{}",
            object["metadata"]["name"].as_str().unwrap_or_default()
        );
    }
    last
}

/// The cluster every create sends (renamed each time).
fn cluster_document() -> serde_json::Value {
    let mut cluster = fixture("cluster.yaml", "payments-dev");
    if let Some(pool) = cluster["spec"]["nodePools"][0].as_object_mut() {
        pool.remove("providerDetails");
    }
    cluster
}

/// `n` admitted Cluster creates from [`CONCURRENCY`] clients, client `w` sending to
/// `bases[w % bases.len()]`.
async fn create_clusters(
    client: &reqwest::Client,
    bases: &[String],
    token: &str,
    n: usize,
) -> Throughput {
    let cluster = cluster_document();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|w| {
            let url = format!(
                "{}/resources/compute.appvia.io/v2beta2/workspaces/pay/clusters",
                bases[w % bases.len()]
            );
            let (client, token, next, cluster) = (
                client.clone(),
                token.to_string(),
                next.clone(),
                cluster.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break latencies;
                    }
                    let mut c = cluster.clone();
                    c["metadata"]["name"] = json!(format!("c{i}"));
                    let one = Instant::now();
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&c)
                        .send()
                        .await
                        .expect("create");
                    let status = r.status().as_u16();
                    assert_eq!(
                        status,
                        201,
                        "cluster c{i}: {}",
                        r.text().await.unwrap_or_default()
                    );
                    latencies.push(one.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    for w in workers {
        latencies.extend(w.await.expect("worker"));
    }
    Throughput {
        per_second: n as f64 / start.elapsed().as_secs_f64(),
        latencies,
    }
}

/// `rounds` rounds on one 3-member etcd cluster: admitted Cluster creates through two
/// replicas on a fresh prefix, then single-key create-if-absent txns.
#[cfg(feature = "etcd")]
async fn etcd_rounds(
    dir: &std::path::Path,
    rounds: usize,
    clusters: usize,
    txns: usize,
) -> Vec<serde_json::Value> {
    let etcd = local_etcd::LocalEtcd::start(&dir.join("etcd"), 3)
        .unwrap_or_else(|e| panic!("a 3-member etcd cluster starts: {e:#}"));
    let endpoints: Vec<String> = etcd.members().iter().map(|m| m.endpoint()).collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let mut out = Vec::with_capacity(rounds);
    for r in 0..rounds {
        // Two replicas on a fresh prefix: the first writes the administrator token, which
        // the second (sharing the signing key through etcd) accepts.
        let mut stops = Vec::new();
        let mut tasks = Vec::new();
        let mut bases = Vec::new();
        let mut token = None;
        for i in 0..2 {
            let data = dir.join(format!("round-{r}/replica-{i}"));
            std::fs::create_dir_all(&data).expect("replica directory");
            let mut config = Config::new("127.0.0.1:0".parse().unwrap(), data);
            config.store = wayfinder_controlplane::etcd_store_choice(
                endpoints.clone(),
                format!("/bench/round-{r}"),
                None,
                Duration::from_secs(10),
            )
            .expect("an etcd store choice");
            let server = Server::bind(config).await.expect("replica binds");
            bases.push(server.url());
            if token.is_none() {
                token = std::fs::read_to_string(server.admin_token_file()).ok();
            }
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            stops.push(stop);
            tasks.push(tokio::spawn(server.run(async {
                let _ = stopped.await;
            })));
        }
        let token = token.expect("the first replica writes the administrator token");
        let token = token.trim().to_string();
        let last = publish_platform(&client, &bases[0], &token).await;
        // The other replica learns of the platform through its etcd watch: wait until it
        // reads the last object published (the watch applies changes in revision order).
        let seen = Instant::now();
        loop {
            let r = client
                .get(format!("{}{last}", bases[1]))
                .bearer_auth(&token)
                .send()
                .await
                .expect("read through the second replica");
            if r.status().is_success() {
                break;
            }
            assert!(
                seen.elapsed() < Duration::from_secs(30),
                "the second replica did not see {last} within 30 s: {}",
                r.status()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let creates = create_clusters(&client, &bases, &token, clusters).await;
        for stop in stops {
            let _ = stop.send(());
        }
        for task in tasks {
            task.await.expect("replica task").expect("replica stops");
        }
        let raw = raw_etcd_txns(&endpoints, &format!("/bench-raw/round-{r}"), txns).await;
        out.push(json!({
            "cluster_creates": clusters,
            "cluster_creates_per_s": creates.per_second,
            "cluster_p50_ms": creates.percentile_ms(50.0),
            "cluster_p99_ms": creates.percentile_ms(99.0),
            "raw_txns": txns,
            "raw_txns_per_s": raw.per_second,
            "raw_p50_ms": raw.percentile_ms(50.0),
            "raw_p99_ms": raw.percentile_ms(99.0),
        }));
    }
    drop(etcd);
    out
}

/// `n` single-key create-if-absent txns (the key's mod revision is 0, then a put of a
/// cluster-sized body) from [`CONCURRENCY`] tasks through `wayfinder_etcd::Etcd::commit`.
#[cfg(feature = "etcd")]
async fn raw_etcd_txns(endpoints: &[String], prefix: &str, n: usize) -> Throughput {
    let mut config = wayfinder_etcd::Config::new(endpoints.to_vec());
    config.prefix = prefix.to_string();
    let etcd = wayfinder_etcd::Etcd::connect(&config)
        .await
        .expect("etcd connects");
    let body = cluster_document().to_string().into_bytes();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (etcd, next, body) = (etcd.clone(), next.clone(), body.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break latencies;
                    }
                    let key = format!("/raw/{i}");
                    let guard = wayfinder_etcd::Guard {
                        mod_revision_eq: vec![(key.clone(), 0)],
                        ..wayfinder_etcd::Guard::default()
                    };
                    let one = Instant::now();
                    etcd.commit(&guard, &[wayfinder_etcd::Op::Put(key, body.clone())])
                        .await
                        .unwrap_or_else(|e| panic!("raw txn {i}: {e}"));
                    latencies.push(one.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    for w in workers {
        latencies.extend(w.await.expect("worker"));
    }
    Throughput {
        per_second: n as f64 / start.elapsed().as_secs_f64(),
        latencies,
    }
}
