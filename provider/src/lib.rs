//! `terraform-provider-wayfinder`: a Terraform/OpenTofu provider for Wayfinder, speaking
//! plugin protocol 6 over gRPC with go-plugin's handshake and automatic mutual TLS.
#![forbid(unsafe_code)]

pub mod client;
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
pub mod tls;
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
