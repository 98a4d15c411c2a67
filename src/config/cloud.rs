//! The Azure clouds the tool runs in (`AZURE_CLOUD`): their Resource Manager and Log Analytics
//! endpoints and token scopes.

/// The Azure cloud the workspace lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Azure public cloud.
    Public,
    /// Azure US Government.
    UsGov,
    /// Azure operated by 21Vianet (China).
    China,
}

impl Cloud {
    pub(super) fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "public" | "azurecloud" => Some(Self::Public),
            "usgov" | "azureusgovernment" => Some(Self::UsGov),
            "china" | "azurechinacloud" => Some(Self::China),
            _ => None,
        }
    }

    /// The setting's spelling of this cloud, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::UsGov => "usgov",
            Self::China => "china",
        }
    }

    /// Resource Manager endpoint.
    pub fn arm_endpoint(self) -> &'static str {
        self.arm_endpoints()[0]
    }

    /// Every Resource Manager endpoint of this cloud: the only `https://` values `ARM_ENDPOINT`
    /// accepts, since requests to it carry this cloud's Resource Manager token. The first is
    /// the default.
    pub fn arm_endpoints(self) -> &'static [&'static str] {
        match self {
            Self::Public => &["https://management.azure.com"],
            Self::UsGov => &["https://management.usgovcloudapi.net"],
            Self::China => &["https://management.chinacloudapi.cn"],
        }
    }

    /// Token scope for Resource Manager.
    pub fn arm_scope(self) -> &'static str {
        match self {
            Self::Public => "https://management.azure.com/.default",
            Self::UsGov => "https://management.usgovcloudapi.net/.default",
            Self::China => "https://management.chinacloudapi.cn/.default",
        }
    }

    /// Log Analytics query endpoint.
    pub fn log_analytics_endpoint(self) -> &'static str {
        self.log_analytics_endpoints()[0]
    }

    /// Every Log Analytics query endpoint of this cloud: the only `https://` values
    /// `LOG_ANALYTICS_ENDPOINT` accepts, since requests to it carry this cloud's Log Analytics
    /// token. The first is the default; the public cloud also serves `api.loganalytics.azure.com`.
    pub fn log_analytics_endpoints(self) -> &'static [&'static str] {
        match self {
            Self::Public => &["https://api.loganalytics.io", "https://api.loganalytics.azure.com"],
            Self::UsGov => &["https://api.loganalytics.us"],
            Self::China => &["https://api.loganalytics.azure.cn"],
        }
    }

    /// Token scope for Log Analytics.
    pub fn log_analytics_scope(self) -> &'static str {
        match self {
            Self::Public => "https://api.loganalytics.io/.default",
            Self::UsGov => "https://api.loganalytics.us/.default",
            Self::China => "https://api.loganalytics.azure.cn/.default",
        }
    }
}
