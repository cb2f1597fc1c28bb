/** pngjs's browserified build (pngjs/browser.js): the same PNG class as 'pngjs', with its own Buffer polyfill inside. */
declare module 'pngjs/browser.js' {
  import type { PNG } from 'pngjs';
  const pngjs: { PNG: typeof PNG };
  export default pngjs;
}
