/**
 * Validation against the published AsyncAPI document: every message payload schema compiled with
 * ajv, looked up by frame type (WebSocket messages are named after their `type`).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { parse as parseYaml } from "yaml";

const ROOT = path.resolve(import.meta.dirname, "../..");

export interface AsyncApiDocument {
  channels: Record<string, { address: string; messages: Record<string, { $ref: string }> }>;
  components: {
    schemas: Record<string, Record<string, unknown>>;
    messages: Record<
      string,
      {
        name: string;
        title: string;
        summary: string;
        payload: { $ref: string };
        examples: { payload: unknown }[];
      }
    >;
  };
}

export function loadAsyncApi(
  text = readFileSync(path.join(ROOT, "asyncapi.yaml"), "utf8"),
): AsyncApiDocument {
  return parseYaml(text) as AsyncApiDocument;
}

export class ContractValidator {
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(readonly document: AsyncApiDocument) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats.default(ajv);
    for (const [id, message] of Object.entries(document.components.messages)) {
      const schemaName = message.payload.$ref.split("/").pop() as string;
      this.validators.set(id, ajv.compile(document.components.schemas[schemaName] as object));
    }
  }

  /** Problems with one payload against message `id`, or [] when it is valid. */
  problems(id: string, payload: unknown): string[] {
    const validate = this.validators.get(id);
    if (!validate) return [`no message "${id}" in the AsyncAPI document`];
    if (validate(payload)) return [];
    return (validate.errors ?? []).map((error) => `${error.instancePath || "(root)"} ${error.message}`);
  }

  /** Problems with a frame received on the WebSocket (its message is named after its type). */
  frameProblems(frame: { type?: unknown }): string[] {
    const wsMessages = this.document.channels.websocket?.messages ?? {};
    const type = String(frame.type);
    if (!(type in wsMessages)) return [`frame type "${type}" is not a message of the websocket channel`];
    return this.problems(type, frame);
  }
}
