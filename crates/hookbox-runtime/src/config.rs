//! What the operator decides about every run: the sandbox's limits, extra
//! environment and egress rules, and which connection secrets hooks may see
//! (the runtime redacts the payload before the sandbox gets it). Plain data; the
//! default is the safest setting (default limits, no extra variables, no
//! network, every secret redacted).

use std::sync::Arc;

use hookbox_intake::SecretPolicy;
use hookbox_sandbox::egress::inject::SecretInjection;
use hookbox_sandbox::egress::mask::UrlMasks;
use hookbox_sandbox::egress::operator_identity::OperatorIdentities;
use hookbox_sandbox::egress::policy::EgressPolicy;
use hookbox_sandbox::egress::recording::EgressMode;
use hookbox_sandbox::limits::Limits;

/// The sandbox settings shared by runs.
#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// The limits of each run.
    pub limits: Limits,
    /// Extra environment variables for the hook, besides the payload.
    pub env: Vec<(String, String)>,
    /// Where hooks may connect.
    pub egress: Arc<EgressPolicy>,
    /// The operator's client certificates, each presented to the
    /// destinations of its rule (none by default).
    pub client_identities: Arc<OperatorIdentities>,
    /// Whether allowed connections reach the network (the default) or the
    /// recording receiver (`hookbox test`).
    pub egress_mode: EgressMode,
    /// Which `connection_envs` values hooks see unredacted.
    pub secrets: SecretPolicy,
    /// Which URLs' paths are credentials, recorded masked (the built-in
    /// webhook services by default).
    pub url_masks: Arc<UrlMasks>,
    /// Secrets the host puts into requests for their destinations; the
    /// hook's variables hold placeholders (none by default).
    pub injected_secrets: Arc<SecretInjection>,
}
