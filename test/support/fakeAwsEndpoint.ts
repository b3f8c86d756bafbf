import { createServer, type Server } from 'node:http';

/** A JSON-protocol AWS endpoint on loopback: `X-Amz-Target` picks the operation, the body is its input. */
export type Operations = Record<
  string,
  (input: Record<string, unknown>) => { status?: number; body: unknown }
>;

export interface FakeEndpoint {
  url: string;
  calls: { target: string; input: Record<string, unknown> }[];
  close(): Promise<void>;
}

/**
 * Stands in for an AWS service endpoint so that a built bundle, with the SDK inside it, makes real
 * HTTP calls (via AWS_ENDPOINT_URL_<SERVICE>) and parses real wire responses.
 */
export async function startFakeAwsEndpoint(operations: Operations): Promise<FakeEndpoint> {
  const calls: FakeEndpoint['calls'] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      const target = String(request.headers['x-amz-target'] ?? '');
      const input = body ? (JSON.parse(body) as Record<string, unknown>) : {};
      calls.push({ target, input });
      const operation = operations[target];
      const result = operation
        ? operation(input)
        : { status: 400, body: { __type: 'UnknownOperationException', message: `no fake for ${target}` } };
      response.writeHead(result.status ?? 200, { 'content-type': 'application/x-amz-json-1.1' });
      response.end(JSON.stringify(result.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
