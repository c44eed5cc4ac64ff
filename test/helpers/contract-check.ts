/**
 * Vitest setup file: after each test file, every frame that file's TestClients received must
 * validate against the matching message payload schema of the committed asyncapi.yaml. So every
 * integration test is also a contract test, with no extra code in the tests.
 */
import { afterAll } from "vitest";
import { ContractValidator, loadAsyncApi } from "./contract.js";
import { recordedFrames } from "./test-client.js";

afterAll(() => {
  if (recordedFrames.length === 0) return;
  const validator = new ContractValidator(loadAsyncApi());
  const failures: string[] = [];
  for (const frame of recordedFrames) {
    const problems = validator.frameProblems(frame);
    if (problems.length > 0 && failures.length < 10)
      failures.push(`${JSON.stringify(frame)}\n    ${problems.join("\n    ")}`);
  }
  recordedFrames.length = 0;
  if (failures.length > 0) {
    throw new Error(
      `frames that break asyncapi.yaml (run \`npm run specs\` if the schemas changed):\n  ${failures.join("\n  ")}`,
    );
  }
});
