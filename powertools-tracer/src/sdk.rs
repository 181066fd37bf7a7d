//! Each AWS SDK call as an `aws` subsegment, with the trace header propagated.

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::{Map, Value};

use crate::segment::Subsegment;
use crate::state::{TraceState, innermost_span};
use crate::tracer::Tracer;

/// Records every call of an SDK client as a subsegment named after the service (`DynamoDB`)
/// with `namespace: "aws"` and the `aws` block (`operation`, `region`, `request_id`,
/// `table_name` where the request names one), and sends the trace header on the request.
///
/// ```no_run
/// # async fn example(sdk_config: aws_types::SdkConfig) {
/// # mod aws_sdk_dynamodb { pub mod config { pub struct Builder; impl Builder {
/// #   pub fn from(_: &aws_types::SdkConfig) -> Self { Builder }
/// #   pub fn interceptor(self, _: impl aws_smithy_runtime_api::client::interceptors::Intercept + 'static) -> Self { self }
/// # } } }
/// let tracer = powertools_tracer::Tracer::from_env();
/// let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config)
///     .interceptor(tracer.interceptor());
/// // let client = aws_sdk_dynamodb::Client::from_conf(config.build());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct XrayInterceptor {
    tracer: Tracer,
}

impl Tracer {
    /// The AWS SDK interceptor (see [`XrayInterceptor`]).
    pub fn interceptor(&self) -> XrayInterceptor {
        XrayInterceptor {
            tracer: self.clone(),
        }
    }
}

/// The open subsegment of one SDK call and the trace it belongs to, kept in the call's own
/// config bag (its interceptor state): the interceptor itself holds no per-call state, so
/// concurrent calls through one client never share any.
#[derive(Debug, Clone)]
struct Call {
    subsegment: Subsegment,
    state: Arc<TraceState>,
}

impl Storable for Call {
    type Storer = StoreReplace<Self>;
}

fn table_name(body: &[u8]) -> Option<String> {
    // JSON protocols (DynamoDB) name the table in the body.
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("TableName")?.as_str().map(str::to_owned)
}

impl Intercept for XrayInterceptor {
    fn name(&self) -> &'static str {
        "PowertoolsXrayInterceptor"
    }

    // Not `read_before_execution`: client interceptors run that before the operation's
    // configuration (and its `Metadata`) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(state) = self.tracer.current_state() else {
            return Ok(());
        };
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_else(|| ("AWS".to_owned(), "Unknown".to_owned()));
        let parent =
            innermost_span(|open| open.subsegment.id.clone()).or_else(|| state.default_parent());
        let mut subsegment =
            Subsegment::start(&service, &state.trace_id, parent, self.tracer.now());
        subsegment.namespace = Some("aws");
        let mut aws = Map::new();
        aws.insert("operation".into(), operation.into());
        if let Some(region) = cfg.load::<aws_types::region::Region>() {
            aws.insert("region".into(), region.as_ref().into());
        }
        subsegment.aws = Some(aws);
        cfg.interceptor_state()
            .store_put(Call { subsegment, state });
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Call { subsegment, state }) = cfg.get_mut::<Call>() else {
            return Ok(());
        };
        let table = context.request().body().bytes().and_then(table_name);
        if let (Some(table), Some(aws)) = (table, subsegment.aws.as_mut()) {
            aws.insert("table_name".into(), table.into());
        }
        let header = format!("Root={};Parent={};Sampled=1", state.trace_id, subsegment.id);
        context
            .request_mut()
            .headers_mut()
            .insert("X-Amzn-Trace-Id", header);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Call {
            mut subsegment,
            state,
        }) = cfg.load::<Call>().cloned()
        else {
            return Ok(());
        };
        // Sent once: a later interceptor hook of the same call finds nothing.
        cfg.interceptor_state().unset::<Call>();
        if let Some(response) = context.response() {
            let status = response.status().as_u16();
            subsegment.http = Some(serde_json::json!({"response": {"status": status}}));
            let request_id = response
                .headers()
                .get("x-amzn-requestid")
                .or_else(|| response.headers().get("x-amz-request-id"));
            if let (Some(id), Some(aws)) = (request_id, subsegment.aws.as_mut()) {
                aws.insert("request_id".into(), id.into());
            }
            match status {
                429 => subsegment.throttle = true,
                400..=499 => subsegment.error = true,
                500..=599 => subsegment.fault = true,
                _ => {}
            }
        }
        if let Some(Err(error)) = context.output_or_error() {
            let fault = !subsegment.error && !subsegment.throttle;
            subsegment.record_exception(format!("{error:?}"), Some("SdkError".to_owned()), fault);
            if !fault {
                subsegment.fault = false;
            }
        }
        self.tracer.send(&state, subsegment);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::client::interceptors::context::{
        Input, InterceptorContext, Output,
    };
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::config_bag::Layer;
    use powertools_core::{Env, Invocation};

    use super::*;
    use crate::sink::InMemorySink;

    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    /// One SDK call as the orchestrator drives it: its own context and config bag.
    struct SdkCall {
        context: InterceptorContext,
        cfg: ConfigBag,
    }

    impl SdkCall {
        fn new(service: &'static str, operation: &'static str) -> Self {
            let mut layer = Layer::new("operation");
            layer.store_put(Metadata::new(operation, service));
            Self {
                context: InterceptorContext::new(Input::doesnt_matter()),
                cfg: ConfigBag::of_layers(vec![layer]),
            }
        }

        fn before_serialization(&mut self, interceptor: &XrayInterceptor, rc: &RuntimeComponents) {
            interceptor
                .read_before_serialization(&(&self.context).into(), rc, &mut self.cfg)
                .unwrap();
        }

        /// Serializes `body` and runs `modify_before_transmit`; returns the trace header sent.
        fn before_transmit(
            &mut self,
            interceptor: &XrayInterceptor,
            rc: &RuntimeComponents,
            body: &'static str,
        ) -> String {
            self.context.enter_serialization_phase();
            self.context.take_input();
            self.context
                .set_request(HttpRequest::new(SdkBody::from(body)));
            self.context.enter_before_transmit_phase();
            interceptor
                .modify_before_transmit(&mut (&mut self.context).into(), rc, &mut self.cfg)
                .unwrap();
            let request = self.context.request().unwrap();
            request.headers().get("X-Amzn-Trace-Id").unwrap().to_owned()
        }

        fn after_execution(
            &mut self,
            interceptor: &XrayInterceptor,
            rc: &RuntimeComponents,
            request_id: &'static str,
        ) {
            self.context.enter_transmit_phase();
            self.context.take_request();
            let mut response =
                HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::empty());
            response
                .headers_mut()
                .insert("x-amzn-requestid", request_id);
            self.context.set_response(response);
            self.context.enter_before_deserialization_phase();
            self.context.enter_deserialization_phase();
            self.context
                .set_output_or_error(Ok(Output::doesnt_matter()));
            self.context.enter_after_deserialization_phase();
            interceptor
                .read_after_execution(&(&self.context).into(), rc, &mut self.cfg)
                .unwrap();
        }
    }

    #[test]
    fn concurrent_calls_through_one_interceptor_keep_their_own_subsegments() {
        let sink = InMemorySink::new();
        let tracer = Tracer::builder()
            .env(Env::from_pairs([(
                "AWS_LAMBDA_FUNCTION_NAME",
                "orders-api",
            )]))
            .enabled(true)
            .sink(sink.clone())
            .build()
            .unwrap();
        let interceptor = tracer.interceptor();
        let rc = RuntimeComponentsBuilder::for_tests().build().unwrap();
        let invocation = Invocation::builder("r-sdk")
            .trace_header(format!("Root={ROOT};Parent=557abcec3ee5a047;Sampled=1"))
            .build();
        let (header_a, header_b) = invocation.sync_scope(|| {
            // Interleaved as two calls in flight on one client: both started before either
            // is sent, and they end in the other order.
            let mut a = SdkCall::new("DynamoDB", "GetItem");
            let mut b = SdkCall::new("S3", "GetObject");
            a.before_serialization(&interceptor, &rc);
            b.before_serialization(&interceptor, &rc);
            let header_b = b.before_transmit(&interceptor, &rc, "{}");
            let header_a = a.before_transmit(&interceptor, &rc, r#"{"TableName":"orders"}"#);
            b.after_execution(&interceptor, &rc, "req-b");
            a.after_execution(&interceptor, &rc, "req-a");
            (header_a, header_b)
        });

        let sent = sink.subsegments();
        assert_eq!(sent.len(), 2, "{sent:#?}");
        let (b, a) = (&sent[0], &sent[1]);
        assert_eq!(a.name, "DynamoDB");
        assert_eq!(b.name, "S3");
        let aws = |s: &Subsegment| serde_json::to_value(&s.aws).unwrap();
        assert_eq!(
            aws(a),
            serde_json::json!({"operation": "GetItem", "request_id": "req-a", "table_name": "orders"})
        );
        assert_eq!(
            aws(b),
            serde_json::json!({"operation": "GetObject", "request_id": "req-b"})
        );
        assert_ne!(a.id, b.id);
        assert_eq!(header_a, format!("Root={ROOT};Parent={};Sampled=1", a.id));
        assert_eq!(header_b, format!("Root={ROOT};Parent={};Sampled=1", b.id));
        for s in [a, b] {
            assert_eq!(s.trace_id, ROOT);
            assert_eq!(s.parent_id.as_deref(), Some("557abcec3ee5a047"));
            assert!(s.end_time.is_some());
        }
    }
}
