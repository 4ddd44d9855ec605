import {fileURLToPath} from 'node:url';
import {defineConfig} from 'vitest/config';

const CORE_TESTS = fileURLToPath(new URL('./src/core/test/', import.meta.url));
const TESTKIT_SOURCES = fileURLToPath(new URL('./src/testkit/src/', import.meta.url));
const CORE_INDEX = fileURLToPath(new URL('./src/core/src/index.ts', import.meta.url));

/**
 * Core's own tests import core's sources, so they run the test kit from its
 * sources too, and the test kit's `@wgmesh/core` is core's sources: one copy of
 * every core class (errors compared by class stay comparable). Every other
 * test uses the built packages, as a plugin author does.
 */
const coreTestsUseSources = {
  name: 'wgmesh-core-tests-use-sources',
  enforce: 'pre' as const,
  resolveId(source: string, importer: string | undefined): string | null {
    if (importer?.startsWith(CORE_TESTS) && (source === '@wgmesh/testkit' || source === '@wgmesh/testkit/compliance')) {
      return `${TESTKIT_SOURCES}${source === '@wgmesh/testkit' ? 'index' : 'compliance'}.ts`;
    }
    if (importer?.startsWith(TESTKIT_SOURCES) && source === '@wgmesh/core') return CORE_INDEX;
    return null;
  },
};

export default defineConfig({
  plugins: [coreTestsUseSources],
  test: {
    include: ['src/core/test/**/*.test.ts', 'src/testkit/test/**/*.test.ts', 'plugins/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/fixtures/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', './test/reporters/summary-line.ts'],
  },
});
