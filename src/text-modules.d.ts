// esbuild bundles .yaml files as text (scripts/build.mjs); the embedded example config uses it.
declare module '*.yaml' {
  const text: string;
  export default text;
}
