//! Open input: any expression text and any string data compile or fail, search or fail, and
//! never panic.

use powertools_jmespath::Expression;
use proptest::prelude::*;
use serde_json::json;

proptest! {
    #[test]
    fn any_expression_compiles_or_fails_without_panicking(text in "\\PC{0,40}") {
        if let Ok(expression) = Expression::compile(&text) {
            let _ = expression.search(&json!({"body": text, "data": "aGVsbG8="}));
        }
    }

    #[test]
    fn the_powertools_functions_take_any_string(data in "\\PC{0,64}") {
        let event = json!({"body": data, "data": data});
        for path in ["powertools_json(body)", "powertools_base64(data)", "powertools_base64_gzip(data)"] {
            let expression = Expression::compile(path);
            prop_assert!(expression.is_ok());
            if let Ok(expression) = expression
                && let Err(error) = expression.search(&event)
            {
                // The error names the expression, never the data.
                prop_assert_eq!(error.expression(), path);
            }
        }
    }
}
