/** The part of @asyncapi/generator 2.x that scripts/docs.ts uses (the package ships no types). */
declare module "@asyncapi/generator" {
  export default class Generator {
    constructor(
      templateName: string,
      targetDir: string,
      options?: { forceWrite?: boolean; templateParams?: Record<string, string> },
    );
    generateFromFile(asyncapiFile: string): Promise<void>;
  }
}
