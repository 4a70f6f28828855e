// WGSL sources are imported as text, by esbuild's text loader and by the vitest plugin in vitest.config.ts.
declare module '*.wgsl' {
  const source: string;
  export default source;
}
