//! The plugin process as Terraform sees it: the handshake line, mutual TLS that admits
//! only Terraform's certificate, message limits, and refusing to run outside Terraform.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use base64::Engine;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use terraform_provider_wayfinder::proto::tfplugin6::{
    get_provider_schema, provider_client::ProviderClient,
};
use terraform_provider_wayfinder::transport::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-wayfinder");

/// A certificate shaped like the one go-plugin makes for Terraform: self-signed ECDSA
/// P-521, CN and SAN localhost, marked as a CA.
fn terraform_like_cert(
    alg: &'static rcgen::SignatureAlgorithm,
) -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate_for(alg).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "HashiCorp");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::KeyAgreement,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let cert = params.self_signed(&key).unwrap();
    (
        cert.pem(),
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

struct Plugin {
    child: Child,
    addr: String,
    server_cert: Vec<u8>,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_plugin(client_cert_pem: Option<&str>) -> Plugin {
    let mut cmd = Command::new(BIN);
    cmd.env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_MIN_PORT", "0")
        .env("PLUGIN_MAX_PORT", "0")
        .env_remove("PLUGIN_CLIENT_CERT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(pem) = client_cert_pem {
        cmd.env("PLUGIN_CLIENT_CERT", pem);
    }
    let mut child = cmd.spawn().expect("start the provider");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(fields.len(), 6, "handshake line {line:?}");
    assert_eq!(
        &fields[..3],
        ["1", "6", "tcp"],
        "core version, protocol 6, tcp: {line:?}"
    );
    assert_eq!(fields[4], "grpc");
    assert!(
        fields[3].starts_with("127.0.0.1:"),
        "loopback only: {line:?}"
    );
    let server_cert = if client_cert_pem.is_some() {
        assert!(
            !fields[5].ends_with('='),
            "the certificate is unpadded base64"
        );
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(fields[5])
            .expect("base64 DER")
    } else {
        assert_eq!(fields[5], "", "no TLS without PLUGIN_CLIENT_CERT");
        Vec::new()
    };
    Plugin {
        child,
        addr: fields[3].to_string(),
        server_cert,
    }
}

/// Trusts exactly the certificate the plugin announced, as Terraform does.
#[derive(Debug)]
struct AnnouncedCert(Vec<u8>);

impl ServerCertVerifier for AnnouncedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.0 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "not the announced certificate".into(),
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let p = rustls::crypto::aws_lc_rs::default_provider();
        rustls::crypto::verify_tls12_signature(m, c, d, &p.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let p = rustls::crypto::aws_lc_rs::default_provider();
        rustls::crypto::verify_tls13_signature(m, c, d, &p.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Calls GetProviderSchema over TLS, presenting `client` (or no certificate).
async fn call_schema(
    plugin: &Plugin,
    client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> Result<get_provider_schema::Response, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnnouncedCert(plugin.server_cert.clone())));
    let mut config = match client {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let addr = plugin.addr.clone();
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, addr) = (connector.clone(), addr.clone());
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let tls = connector
                    .connect(ServerName::try_from("localhost").unwrap(), tcp)
                    .await?;
                assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "ALPN h2");
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    ProviderClient::new(channel)
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .map(|r| r.into_inner())
        .map_err(|e| format!("call: {e}"))
}

#[tokio::test]
async fn terraforms_certificate_is_admitted_and_every_other_is_refused() {
    let (terraform_pem, terraform_der, terraform_key) =
        terraform_like_cert(&rcgen::PKCS_ECDSA_P521_SHA512);
    let plugin = start_plugin(Some(&terraform_pem));

    let schema = call_schema(&plugin, Some((terraform_der, terraform_key)))
        .await
        .expect("Terraform's certificate is admitted");
    assert!(
        schema
            .resource_schemas
            .contains_key("wayfinder_compute_template")
    );

    let (_, other_der, other_key) = terraform_like_cert(&rcgen::PKCS_ECDSA_P521_SHA512);
    let err = call_schema(&plugin, Some((other_der, other_key)))
        .await
        .expect_err("another P-521 certificate is refused");
    assert!(!err.is_empty());

    let (_, p256_der, p256_key) = terraform_like_cert(&rcgen::PKCS_ECDSA_P256_SHA256);
    call_schema(&plugin, Some((p256_der, p256_key)))
        .await
        .expect_err("a P-256 certificate is refused");

    call_schema(&plugin, None)
        .await
        .expect_err("a client without a certificate is refused");
}

#[tokio::test]
async fn without_a_client_certificate_it_serves_plaintext() {
    let plugin = start_plugin(None);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", plugin.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let schema = ProviderClient::new(channel)
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    let caps = schema.server_capabilities.unwrap();
    assert!(caps.plan_destroy && caps.get_provider_schema_optional);
}

#[test]
fn run_by_hand_it_explains_itself_and_prints_nothing_on_stdout() {
    let out = Command::new(BIN)
        .env_remove(MAGIC_COOKIE_KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Terraform provider plugin") && err.contains("--debug"),
        "{err}"
    );
}

#[test]
fn an_old_protocol_only_terraform_is_told_what_is_needed() {
    let out = Command::new(BIN)
        .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("version 6"));
}

#[test]
fn debug_mode_prints_a_reattach_value() {
    let mut child = Command::new(BIN)
        .arg("--debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    while !text.contains("TF_REATTACH_PROVIDERS='") {
        if reader.read_line(&mut text).unwrap() == 0 {
            break;
        }
    }
    let mut line = String::new();
    reader.read_line(&mut line).ok();
    let _ = child.kill();
    let _ = child.wait();
    let json = text
        .split("TF_REATTACH_PROVIDERS='")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("value printed");
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let entry = &v["registry.terraform.io/wayfinder/wayfinder"];
    assert_eq!(entry["ProtocolVersion"], 6);
    // The same server under OpenTofu's registry address.
    assert_eq!(&v["registry.opentofu.org/wayfinder/wayfinder"], entry);
    assert_eq!(entry["Addr"]["Network"], "tcp");
    assert!(
        entry["Addr"]["String"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
}
