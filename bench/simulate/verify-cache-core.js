/**
 * `@wgmesh/core` as the twophase store sees it inside the simulation: every
 * export unchanged except `verifyEntry`, which is cached (see store-hooks.js).
 */
export * from '@wgmesh/core';
export {verifyEntry} from './verify-cache.js';
