/**
 * The type name a code generator should give a schema: its title in PascalCase ("Upstream price
 * tick" -> "UpstreamPriceTick"). Schema titles in asyncapi.yaml are written this way, because
 * generators disagree on what to do with spaces (Modelina's TypeScript and Python generators drop
 * them, its Dart and C++ ones spell them "Space").
 */
export function typeName(title: string): string {
  return title
    .split(/[^A-Za-z0-9]+/)
    .filter((word) => word.length > 0)
    .map((word) => word[0]?.toUpperCase() + word.slice(1))
    .join("");
}
