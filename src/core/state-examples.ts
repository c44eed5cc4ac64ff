/**
 * The frames a state plugin's examples make, built the way the gateway builds them: the first
 * snapshot among the examples, then an update for each delta that follows it in sequence. The
 * loader checks them against the plugin's frame schemas (plugin-validation.ts), and the published
 * contract shows them as examples (specs/asyncapi.ts).
 */
import type { z } from "zod";
import type { AnyStatePlugin, PluginSettings } from "./plugin.js";

/** One frame to build, in order (each step applies the state the previous one left). */
export interface ExampleFrameStep {
  /** The hook and example it calls, for error messages: `toUpdate(examples[2])`. */
  call: string;
  schema: z.ZodType;
  build(): unknown;
}

/** The steps, or undefined when no example is a snapshot. Examples must already be parsed. */
export function stateExampleSteps(
  plugin: AnyStatePlugin,
  settings: PluginSettings,
  messages: readonly unknown[],
): ExampleFrameStep[] | undefined {
  const { state } = plugin;
  const first = messages.findIndex((message) => state.isSnapshot(message));
  if (first < 0) return undefined;
  let current: unknown;
  let view: unknown;
  let sequence = 0;
  const steps: ExampleFrameStep[] = [
    {
      call: `toSnapshot(examples[${first}])`,
      schema: plugin.frames.snapshot,
      build: () => {
        const snapshot = messages[first];
        current = state.apply(undefined, snapshot, settings);
        view = state.view(current, settings);
        sequence = state.sequence(snapshot);
        const position = { sequence, checksum: state.checksum(view, settings) };
        return plugin.toSnapshot(plugin.key(snapshot, settings), view, position, snapshot, settings);
      },
    },
  ];
  let expected = state.sequence(messages[first]);
  for (const [index, message] of messages.entries()) {
    if (index <= first || state.isSnapshot(message) || state.sequence(message) !== expected + 1) continue;
    expected++;
    steps.push({
      call: `toUpdate(examples[${index}])`,
      schema: plugin.frames.update,
      build: () => {
        current = state.apply(current, message, settings);
        const after = state.view(current, settings);
        const changes = state.diff(view, after, settings);
        const prevSequence = sequence;
        sequence = state.sequence(message);
        view = after;
        const position = { sequence, prevSequence, checksum: state.checksum(after, settings) };
        return plugin.toUpdate(plugin.key(message, settings), changes, position, message, settings);
      },
    });
  }
  return steps;
}
