//! Lambda contexts and events for calling a handler (or a tower stack) directly in a test.

use lambda_runtime::{Context, LambdaEvent};

/// The ARN used by [`test_context`].
pub const TEST_FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:test-function";

/// A Lambda context as the runtime builds it: `request_id`, a deadline far in the future,
/// [`TEST_FUNCTION_ARN`], and no trace header.
///
/// ```
/// let mut context = powertools_testing::test_context("req-1");
/// context.xray_trace_id = Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into());
/// assert_eq!(context.request_id, "req-1");
/// ```
pub fn test_context(request_id: &str) -> Context {
    let mut context = Context::default();
    context.request_id = request_id.to_owned();
    context.deadline = 4_102_444_800_000; // 2100-01-01
    context.invoked_function_arn = TEST_FUNCTION_ARN.to_owned();
    context
}

/// `payload` with a [`test_context`] for `request_id`, ready for `service.oneshot(..)`.
pub fn test_event<T>(request_id: &str, payload: T) -> LambdaEvent<T> {
    LambdaEvent::new(payload, test_context(request_id))
}
