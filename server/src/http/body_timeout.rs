//! Request-body deadlines: every body is read under an idle timeout (the longest pause between
//! two parts) and a total deadline (longer for an import upload than for a service body); a
//! body that runs out of either answers 408 with the API's error body naming the limit, and the
//! connection is closed. Headers have their own timeout, set on the server (`crate::app`).

use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage as _, ResponseError as _};
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::config::TransportSettings;
use crate::error::ApiError;
use crate::state::AppState;

/// The path whose body is an import upload, read under the upload deadline.
pub const UPLOAD_PATH: &str = "/Thingworx/Importer";

/// The limits one body is read under, with the settings that set them (named in the 408).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimits {
    /// Longest pause between two parts of the body.
    pub idle: Duration,
    /// Longest time the whole body may take, from the request's headers on.
    pub total: Duration,
    /// The setting of `total` (`--body-timeout-seconds` or `--upload-timeout-seconds`).
    pub total_setting: &'static str,
}

impl BodyLimits {
    /// The limits of a body sent to `path`, under `settings`.
    pub fn for_path(settings: &TransportSettings, path: &str) -> BodyLimits {
        let upload = path == UPLOAD_PATH;
        BodyLimits {
            idle: Duration::from_secs(settings.body_idle_timeout_seconds),
            total: Duration::from_secs(if upload {
                settings.upload_timeout_seconds
            } else {
                settings.body_timeout_seconds
            }),
            total_setting: if upload {
                "--upload-timeout-seconds"
            } else {
                "--body-timeout-seconds"
            },
        }
    }
}

/// Which limit ran out, and its message.
type Expired = Arc<OnceLock<String>>;

/// A request body read under [`BodyLimits`]. When a limit runs out it ends with an error and
/// records why in its [`Expired`] cell.
pub struct TimedBody {
    inner: Payload,
    limits: BodyLimits,
    deadline: Pin<Box<Sleep>>,
    idle: Option<Pin<Box<Sleep>>>,
    expired: Expired,
    finished: bool,
}

impl TimedBody {
    /// `inner` under `limits`, the total deadline counted from now.
    pub fn new(inner: Payload, limits: BodyLimits, expired: Expired) -> TimedBody {
        TimedBody {
            inner,
            limits,
            deadline: Box::pin(tokio::time::sleep_until(Instant::now() + limits.total)),
            idle: None,
            expired,
            finished: false,
        }
    }

    fn expire(&mut self, message: String) -> Poll<Option<Result<Bytes, PayloadError>>> {
        self.finished = true;
        let message = self.expired.get_or_init(|| message).clone();
        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            message,
        )))))
    }
}

impl Stream for TimedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            let message = format!(
                "the request body did not arrive within {} s ({})",
                this.limits.total.as_secs(),
                this.limits.total_setting
            );
            return this.expire(message);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                // The pause is counted again from the next time the reader waits.
                this.idle = None;
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Ready(other) => {
                this.finished = other.is_none();
                return Poll::Ready(other);
            }
            Poll::Pending => {}
        }
        let idle = this.limits.idle;
        let timer = this
            .idle
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        if timer.as_mut().poll(cx).is_ready() {
            let message = format!(
                "the request body paused for more than {} s (--body-idle-timeout-seconds)",
                idle.as_secs()
            );
            return this.expire(message);
        }
        Poll::Pending
    }
}

/// The middleware: reads every request body as a [`TimedBody`] and answers 408 when it ran
/// out, whatever the handler made of the broken body.
pub async fn limit(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let settings = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.config.limits.transport)
        .unwrap_or_default();
    let expired: Expired = Arc::default();
    match req.take_payload() {
        Payload::None => {}
        payload => {
            let limits = BodyLimits::for_path(&settings, req.path());
            let timed = TimedBody::new(payload, limits, Arc::clone(&expired));
            req.set_payload(Payload::Stream {
                payload: Box::pin(timed),
            });
        }
    }
    let res = next.call(req).await?;
    Ok(match expired.get() {
        Some(message) => {
            tracing::info!(path = %res.request().path(), %message, "request body timed out");
            let answer = ApiError::Timeout(message.clone()).error_response();
            res.into_response(answer).map_into_right_body()
        }
        None => res.map_into_left_body(),
    })
}
