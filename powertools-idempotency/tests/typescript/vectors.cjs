// Computes the idempotency key Powertools for AWS Lambda (TypeScript) gives each payload of
// payloads.json (JSON texts), with the library itself: its DynamoDB persistence layer's own
// key method, as makeIdempotent calls it. Run with Node, the library on NODE_PATH
// (scripts/test installs it and exports POWERTOOLS_TYPESCRIPT_NODE_PATH):
//
//   NODE_PATH=$POWERTOOLS_TYPESCRIPT_NODE_PATH node vectors.cjs > typescript.json
//
// Another file of payloads may be given as the first argument.
'use strict';
process.env.AWS_LAMBDA_FUNCTION_NAME = 'vectors'; // the default key prefix: the function name
process.env.AWS_REGION ??= 'us-east-1';
const fs = require('node:fs');
const path = require('node:path');
const { IdempotencyConfig } = require('@aws-lambda-powertools/idempotency');
const { DynamoDBPersistenceLayer } = require('@aws-lambda-powertools/idempotency/dynamodb');

const source = process.argv[2] ?? path.join(__dirname, 'payloads.json');
const payloads = JSON.parse(fs.readFileSync(source, 'utf8'));
const vectors = payloads.map((text) => {
  const layer = new DynamoDBPersistenceLayer({ tableName: 'unused' });
  layer.configure({ config: new IdempotencyConfig({}) });
  return { payload: text, key: layer.getHashedIdempotencyKey(JSON.parse(text)) };
});
process.stdout.write(`${JSON.stringify(vectors, null, 1)}\n`);
