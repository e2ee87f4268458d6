/** Jest for the Studio's panel logic (the pure modules: schemaForm, series, liveJobs, rowsView), as the
 * JupyterLab extension template sets it up: ts-jest, node environment (the logic touches no DOM). */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: { module: 'commonjs', esModuleInterop: true, strict: true, jsx: 'react' }, isolatedModules: true }]
  }
};
