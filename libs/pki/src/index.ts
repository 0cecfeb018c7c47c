export * from './pki.ts';
export * from './files.ts';
export * from './flags.ts';
export * from './init.ts';
export * from './encryption-keys.ts';
