/** esbuild's text loader (scripts/build.mjs) imports a .yaml file as its text. */
declare module '*.yaml' {
  const text: string;
  export default text;
}
