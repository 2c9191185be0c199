//! A tower layer that gives every fake gRPC call an RPC id, as Salesforce does.
//!
//! The id is put in the request's extensions (so handlers can quote it in messages and
//! response fields) and in an `rpc-id` trailer on every response; trailers-only error
//! responses get it in their headers, where gRPC carries the status.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::HeaderValue;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// Name of the header/trailer.
pub const RPC_ID: &str = "rpc-id";

/// The RPC id of the current call, found in request extensions.
#[derive(Debug, Clone)]
pub struct RpcId(pub String);

impl RpcId {
    /// The id of `request`, or a fresh one when the layer is not installed.
    pub fn of<T>(request: &tonic::Request<T>) -> String {
        request.extensions().get::<RpcId>().map_or_else(
            || uuid::Uuid::new_v4().to_string(),
            |rpc_id| rpc_id.0.clone(),
        )
    }
}

/// Installs [`RpcIdService`].
#[derive(Debug, Clone, Default)]
pub struct RpcIdLayer;

impl<S> Layer<S> for RpcIdLayer {
    type Service = RpcIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcIdService { inner }
    }
}

/// Adds an RPC id to each call's extensions and response trailers.
#[derive(Debug, Clone)]
pub struct RpcIdService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for RpcIdService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<RpcIdBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let rpc_id = uuid::Uuid::new_v4().to_string();
        let header =
            HeaderValue::from_str(&rpc_id).unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        request.extensions_mut().insert(RpcId(rpc_id));
        let response = self.inner.call(request);
        Box::pin(async move {
            let (mut parts, body) = response.await?.into_parts();
            if parts.headers.contains_key("grpc-status") {
                parts.headers.entry(RPC_ID).or_insert(header.clone());
            }
            let body = RpcIdBody {
                inner: body,
                rpc_id: header,
            };
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

pin_project! {
    /// A response body whose trailers gain an `rpc-id`.
    pub struct RpcIdBody<B> {
        #[pin]
        inner: B,
        rpc_id: HeaderValue,
    }
}

impl<B: Body> Body for RpcIdBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = match ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            other => return Poll::Ready(other),
        };
        match frame.into_trailers() {
            Ok(mut trailers) => {
                trailers.entry(RPC_ID).or_insert(this.rpc_id.clone());
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Err(data_frame) => Poll::Ready(Some(Ok(data_frame))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
