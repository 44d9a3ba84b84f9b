//! The device code flow (RFC 8628): show a short code, the user signs in on any device, we poll for the tokens.

use std::time::{Duration, Instant};

use oauth2::ExtraDeviceAuthorizationFields;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{
    IdentityHttp, SignInClient, SignInError, TokenSet, answer, from_oauth_error,
    tokens_from_response,
};

/// RFC 8628 3.5: on `slow_down` the interval grows by five seconds for the rest of the flow.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Transient failures in a row (network, 5xx) that polling rides out before giving up.
const TRANSIENT_FAILURES_TOLERATED: u32 = 3;

/// Microsoft's localized sentence that tells the user what to do with the code.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct MicrosoftDeviceFields {
    #[serde(default)]
    message: Option<String>,
}

impl ExtraDeviceAuthorizationFields for MicrosoftDeviceFields {}

/// What to show the user while the device code flow waits.
#[derive(Debug, Clone)]
pub struct DeviceCodePrompt {
    pub user_code: String,
    pub verification_uri: url::Url,
    /// Microsoft's own instruction sentence, when it sent one.
    pub message: Option<String>,
    pub issued_at: Instant,
    pub expires_in: Duration,
    pub interval: Duration,
    device_code: SecretString,
}

impl DeviceCodePrompt {
    /// A prompt as the wizard's unit tests need one, without an identity server.
    #[cfg(test)]
    pub(crate) fn for_tests(user_code: &str, expires_in: Duration) -> DeviceCodePrompt {
        DeviceCodePrompt {
            user_code: user_code.to_owned(),
            verification_uri: url::Url::parse("https://microsoft.com/devicelogin")
                .expect("valid URL"),
            message: None,
            issued_at: Instant::now(),
            expires_in,
            interval: Duration::from_secs(5),
            device_code: SecretString::from("device-code"),
        }
    }

    pub fn expires_at(&self) -> Instant {
        answer::instant_after(
            self.issued_at,
            self.expires_in,
            answer::DEVICE_CODE_LIFETIME_RANGE,
        )
    }

    pub fn remaining(&self) -> Duration {
        self.expires_at().saturating_duration_since(Instant::now())
    }
}

/// Something that happened while polling, for a window's status line.
#[derive(Debug, Clone)]
pub enum DevicePollEvent {
    /// Not signed in yet; polling goes on.
    Pending,
    /// The server asked us to poll less often.
    SlowDown { interval: Duration },
    /// A network or server hiccup that polling rides out.
    TransientFailure { code: String },
}

impl SignInClient {
    /// Asks for a device code. The prompt is ready to display as soon as this returns.
    pub async fn start_device_code(&self) -> Result<DeviceCodePrompt, SignInError> {
        let mut request = self.oauth.exchange_device_code().add_scopes(self.scopes());
        // Microsoft words the code's message and the sign-in page in the user's language.
        if let Some(market) = super::market() {
            request = request.add_extra_param("mkt", market);
        }
        let response: oauth2::DeviceAuthorizationResponse<MicrosoftDeviceFields> = request
            .request_async(&IdentityHttp { client: self })
            .await
            .map_err(from_oauth_error)?;
        let verification_uri =
            url::Url::parse(response.verification_uri().as_str()).map_err(|_| {
                SignInError::Malformed {
                    detail: "the verification address is not a URL".to_owned(),
                }
            })?;
        // The address is shown, put in a QR code and opened: only a web page, never file: or another scheme.
        if crate::config::check_identity_url(&verification_uri).is_err() {
            return Err(SignInError::Malformed {
                detail: "the sign-in page's address is not an https:// address".to_owned(),
            });
        }
        let user_code = response.user_code().secret().to_owned();
        if user_code.is_empty() || user_code.len() > 64 || user_code.chars().any(|c| c.is_control())
        {
            return Err(SignInError::Malformed {
                detail: "the sign-in code is empty, too long or not plain text".to_owned(),
            });
        }
        Ok(DeviceCodePrompt {
            user_code,
            verification_uri,
            message: response.extra_fields().message.clone(),
            issued_at: Instant::now(),
            expires_in: answer::clamp(response.expires_in(), answer::DEVICE_CODE_LIFETIME_RANGE),
            interval: answer::clamp(response.interval(), answer::POLL_INTERVAL_RANGE),
            device_code: SecretString::from(response.device_code().secret().to_owned()),
        })
    }

    /// Polls until the user has signed in, declined, or the code expired. Cancel by dropping the future.
    pub async fn poll_device_code(
        &self,
        prompt: &DeviceCodePrompt,
        mut on_event: impl FnMut(DevicePollEvent) + Send,
    ) -> Result<TokenSet, SignInError> {
        let mut interval = answer::clamp(prompt.interval, answer::POLL_INTERVAL_RANGE);
        let mut transient_failures = 0;
        loop {
            // Never past the code's end, however the server set the interval.
            if prompt.remaining() < interval {
                tokio::time::sleep(prompt.remaining()).await;
                return Err(SignInError::DeviceCodeExpired);
            }
            tokio::time::sleep(interval).await;
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", self.client_id.as_str()),
                ("device_code", prompt.device_code.expose_secret()),
            ];
            match self.post_token_form(&form).await {
                Ok(response) => return tokens_from_response(response),
                Err(SignInError::Rejected(identity))
                    if identity.error == "authorization_pending" =>
                {
                    transient_failures = 0;
                    on_event(DevicePollEvent::Pending);
                }
                Err(SignInError::Rejected(identity)) if identity.error == "slow_down" => {
                    interval += SLOW_DOWN_STEP;
                    tracing::debug!(
                        interval_seconds = interval.as_secs(),
                        "device code: slow_down"
                    );
                    on_event(DevicePollEvent::SlowDown { interval });
                }
                Err(error)
                    if error.is_transient()
                        && transient_failures < TRANSIENT_FAILURES_TOLERATED =>
                {
                    transient_failures += 1;
                    tracing::debug!(code = %error.code(), "device code: transient failure while polling");
                    on_event(DevicePollEvent::TransientFailure { code: error.code() });
                }
                Err(error) => return Err(error),
            }
        }
    }
}
