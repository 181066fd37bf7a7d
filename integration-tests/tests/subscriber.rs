//! The subscriber as users install it: the logger's layer and the X-Ray span layer together.
//! Each has its own per-layer filter, so neither starves the other, and spans that no layer
//! wants (the SDK's, hyper's and h2's TRACE and DEBUG) are never created.
//!
//! One test in its own binary: callsite interest is process-wide.

use powertools_core::Env;
use powertools_logger::Logger;
use powertools_testing::CapturedOutput;
use powertools_tracer::Tracer;
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn logger_and_span_layer_enable_only_what_one_of_them_wants()
-> Result<(), Box<dyn std::error::Error>> {
    for level in ["INFO", "WARN"] {
        let captured = CapturedOutput::new();
        let logger = Logger::builder()
            .env(Env::from_pairs([("AWS_LAMBDA_LOG_LEVEL", level)]))
            .writer(captured.line_writer())
            .build()?;
        let tracer = Tracer::builder()
            .env(Env::from_pairs([("POWERTOOLS_TRACE_DISABLED", "true")]))
            .build()?;
        let subscriber = tracing_subscriber::registry()
            .with(logger.tracing_layer())
            .with(tracer.tracing_layer());
        tracing::subscriber::with_default(subscriber, || {
            let noisy = tracing::span!(target: "hyper::proto::h1", Level::TRACE, "read");
            assert!(
                noisy.is_disabled(),
                "{level}: a TRACE span nobody wants was created"
            );
            let sdk = tracing::span!(target: "aws_smithy_runtime", Level::DEBUG, "send");
            assert!(
                sdk.is_disabled(),
                "{level}: a DEBUG span nobody wants was created"
            );
            let traced = tracing::info_span!("## save_order", order_id = "o-1");
            assert!(
                !traced.is_disabled(),
                "{level}: the span layer lost its ## span"
            );
            let deep = tracing::trace_span!("## deep");
            assert!(
                !deep.is_disabled(),
                "{level}: a TRACE ## span is the span layer's too"
            );
            let _entered = traced.enter();
            tracing::warn!(step = "saved", "order saved");
            tracing::info!("routine");
        });
        let lines = captured.json_lines()?;
        let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
        match level {
            "INFO" => assert_eq!(messages, ["order saved", "routine"]),
            _ => assert_eq!(messages, ["order saved"]),
        }
    }
    Ok(())
}
