// One side of the idempotency records shared between Powertools for AWS Lambda (TypeScript) and
// this crate, run by tests/typescript_interop.rs against DynamoDB Local:
//
//   node interop.cjs write    runs each case's handler through makeIdempotent (records written)
//   node interop.cjs replay   runs each case again with a handler that must not run
//
// Environment: NODE_PATH (the library), TABLE, AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_LAMBDA_FUNCTION_NAME (the key prefix).
// Prints one JSON array: {name, ran, result} or {name, ran, error} per case.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { makeIdempotent, IdempotencyConfig } = require('@aws-lambda-powertools/idempotency');
const { DynamoDBPersistenceLayer } = require('@aws-lambda-powertools/idempotency/dynamodb');

const mode = process.argv[2];
if (mode !== 'write' && mode !== 'replay') {
  console.error('usage: node interop.cjs write|replay');
  process.exit(2);
}
const cases = JSON.parse(fs.readFileSync(path.join(__dirname, 'interop-cases.json'), 'utf8'));
const context = { getRemainingTimeInMillis: () => 30_000 };

async function main() {
  const results = [];
  for (const c of cases) {
    const persistenceStore = new DynamoDBPersistenceLayer({
      tableName: process.env.TABLE,
      clientConfig: { endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB },
    });
    const config = new IdempotencyConfig(c.config);
    let ran = false;
    const handler = makeIdempotent(
      async () => {
        ran = true;
        return mode === 'write' ? c.response : 'the handler ran again';
      },
      { persistenceStore, config }
    );
    try {
      const result = await handler(mode === 'write' ? c.payload : (c.replay_payload ?? c.payload), context);
      results.push({ name: c.name, ran, result: result === undefined ? null : result });
    } catch (error) {
      results.push({ name: c.name, ran, error: error.name });
    }
  }
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
