export * from './pki.ts';
export * from './files.ts';
