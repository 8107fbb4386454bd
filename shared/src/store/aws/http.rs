//! The HTTP client under every DynamoDB and SQS call: hyper 1 and rustls
//! on ring (the one crypto provider of every binary), trusting what
//! docs/architecture.md "TLS and trust" says.
//!
//! A Lambda function trusts the roots of Amazon Trust Services compiled in
//! (shared/certs/): every AWS API endpoint's certificate chains to one of
//! them, and the function reads no certificate file at start (cold start,
//! BENCHMARKS.md "Cold start and sizes"). The CLI trusts the platform's
//! store as well (a TLS-inspecting proxy on an operator's network).

use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// Amazon Root CA 1–4 and Starfield Services Root CA G2 (shared/certs/README.md).
pub const AMAZON_ROOTS: &str = include_str!("../../../certs/amazon-trust-services.pem");

/// Which certificate authorities an AWS connection trusts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Amazon's roots only, compiled in: the Lambda functions.
    Amazon,
    /// Amazon's roots and the platform's store: the CLI.
    AmazonAndPlatform,
}

/// The SDK's HTTP client for `trust` (connections pooled per client).
pub fn client(trust: Trust) -> SharedHttpClient {
    let roots = TrustStore::empty()
        .with_native_roots(trust == Trust::AmazonAndPlatform)
        .with_pem_certificate(AMAZON_ROOTS.as_bytes());
    let context = TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .expect("a trust store of PEM text is a valid TLS context");
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use sha2::{Digest, Sha256};

    /// The compiled-in roots are exactly the five shared/certs/README.md
    /// lists, by the fingerprints Amazon Trust Services publishes.
    #[test]
    fn the_compiled_in_roots_are_amazons_five() {
        let fingerprints: Vec<String> = CertificateDer::pem_slice_iter(AMAZON_ROOTS.as_bytes())
            .map(|der| hex::encode(Sha256::digest(der.expect("a PEM certificate").as_ref())))
            .collect();
        assert_eq!(
            fingerprints,
            [
                "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
                "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
                "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
                "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
                "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5",
            ]
        );
    }
}
