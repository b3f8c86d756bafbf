import { randomUUID } from 'node:crypto';
import { describeService, OLD_IMAGE, SERVICE_ARN } from './aws.ts';
import { type FakeEndpoint, startFakeAwsEndpoint } from './fakeAwsEndpoint.ts';

/**
 * An App Runner service on loopback, speaking the API's JSON protocol (DescribeService, UpdateService,
 * ListOperations as the API reference shapes them) with the service's own rules: one operation at a
 * time (UpdateService on a busy service is InvalidStateException), an operation that takes
 * `deployMs`, and images that fail their health check, which App Runner rolls back
 * (ROLLBACK_SUCCEEDED, the service back on its previous image).
 */
export interface FakeAppRunner {
  url: string;
  /** The image the service runs now. */
  image(): string;
  /** Every image the service ran, in order, starting with the first. */
  history: string[];
  /** UpdateService calls, with the image each asked for and whether it was accepted. */
  updates: { image: string; accepted: boolean }[];
  close(): Promise<void>;
}

interface Operation {
  Id: string;
  Type: 'UPDATE_SERVICE';
  Status: string;
  TargetArn: string;
  StartedAt: number;
  EndedAt?: number;
  UpdatedAt: number;
  image: string;
  previous: string;
  endsAt: number;
}

export async function startFakeAppRunner({
  image = OLD_IMAGE,
  deployMs = 300,
  failingImages = [],
}: {
  image?: string;
  /** How long an operation takes: one figure, or per image. */
  deployMs?: number | ((image: string) => number);
  failingImages?: string[];
} = {}): Promise<FakeAppRunner> {
  let current = image;
  const history = [image];
  const updates: FakeAppRunner['updates'] = [];
  const operations: Operation[] = [];

  /** Operations end when their time is up, seen lazily on each request. */
  const settle = () => {
    const now = Date.now();
    for (const operation of operations) {
      if (operation.Status !== 'IN_PROGRESS' || now < operation.endsAt) continue;
      const fails = failingImages.includes(operation.image);
      operation.Status = fails ? 'ROLLBACK_SUCCEEDED' : 'SUCCEEDED';
      operation.EndedAt = operation.UpdatedAt = now / 1000;
      current = fails ? operation.previous : operation.image;
      if (!fails) history.push(operation.image);
    }
  };
  const busy = () => operations.some((operation) => operation.Status === 'IN_PROGRESS');
  const service = () => {
    const described = describeService(current, busy() ? 'OPERATION_IN_PROGRESS' : 'RUNNING').Service;
    return {
      ...described,
      CreatedAt: (described?.CreatedAt?.getTime() ?? 0) / 1000,
      UpdatedAt: Date.now() / 1000,
    };
  };
  const wrongService = (input: Record<string, unknown>) =>
    input.ServiceArn !== SERVICE_ARN
      ? { status: 400, body: { __type: 'ResourceNotFoundException', Message: 'no such service' } }
      : undefined;

  const endpoint: FakeEndpoint = await startFakeAwsEndpoint({
    'AppRunner.DescribeService': (input) => {
      settle();
      return wrongService(input) ?? { body: { Service: service() } };
    },
    'AppRunner.ListOperations': (input) => {
      settle();
      return (
        wrongService(input) ?? {
          body: {
            OperationSummaryList: [...operations]
              .reverse()
              .map(({ image: _image, previous: _previous, endsAt: _endsAt, ...summary }) => summary),
          },
        }
      );
    },
    'AppRunner.UpdateService': (input) => {
      settle();
      const refused = wrongService(input);
      if (refused) return refused;
      const requested = String(
        (input.SourceConfiguration as { ImageRepository?: { ImageIdentifier?: string } })?.ImageRepository
          ?.ImageIdentifier,
      );
      if (busy()) {
        updates.push({ image: requested, accepted: false });
        return {
          status: 400,
          body: {
            __type: 'InvalidStateException',
            Message: `Service cannot be updated in the current state: OPERATION_IN_PROGRESS.`,
          },
        };
      }
      updates.push({ image: requested, accepted: true });
      const now = Date.now();
      const operation: Operation = {
        Id: randomUUID().replaceAll('-', ''),
        Type: 'UPDATE_SERVICE',
        Status: 'IN_PROGRESS',
        TargetArn: SERVICE_ARN,
        StartedAt: now / 1000,
        UpdatedAt: now / 1000,
        image: requested,
        previous: current,
        endsAt: now + (typeof deployMs === 'number' ? deployMs : deployMs(requested)),
      };
      operations.push(operation);
      return { body: { Service: service(), OperationId: operation.Id } };
    },
  });
  return {
    url: endpoint.url,
    image: () => {
      settle();
      return current;
    },
    history,
    updates,
    close: () => endpoint.close(),
  };
}
