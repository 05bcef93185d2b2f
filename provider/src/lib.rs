//! `terraform-provider-wayfinder`: a Terraform/OpenTofu provider for Wayfinder, speaking
//! plugin protocol 6 over gRPC with go-plugin's handshake and automatic mutual TLS.
#![forbid(unsafe_code)]

//! The modules tests, benches, the fuzz targets and xtask use are public; the rest is the
//! crate's own, so that what nothing uses shows up as dead code.
//!
//! Layers, as in terraform-plugin-framework: [`transport`] (go-plugin handshake, TLS) serves
//! `server` (the protocol: decode → call → encode, the only module besides `transport`
//! that names [`proto`] types), which calls [`provider::WayfinderProvider`] (configuration)
//! and the resources' lifecycle ([`resources`]), data sources, ephemeral resources and
//! functions; those use `client` (HTTP only) and return the provider's own diagnostics.

mod client;
pub mod codec;
pub mod datasources;
mod diag;
pub mod ephemeral;
pub mod functions;
pub mod logging;
mod plaintext;
pub mod provider;
pub mod resources;
pub mod schema;
mod server;
mod tls;
pub mod transport;

/// Code generated from our `.proto` files.
pub mod proto {
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
}
