/**
 * The parts of oclif wgmesh's commands use, from oclif's subpath entries.
 * Not from its index, which loads all of oclif (and semver) on every start.
 * And required, not imported: oclif is CommonJS, and importing CommonJS from an
 * ES module makes Node scan the sources for their exports (~20 ms per start
 * here); oclif has already required these modules when a command loads, so
 * requiring them costs nothing.
 */
import {createRequire} from 'node:module';
import type * as OclifArgs from '@oclif/core/args';
import type * as OclifCommand from '@oclif/core/command';
import type * as OclifErrors from '@oclif/core/errors';
import type * as OclifFlags from '@oclif/core/flags';

const require = createRequire(import.meta.url);

/** oclif's argument definitions (`Args.string(...)`). */
export const Args = require('@oclif/core/args') as typeof OclifArgs;
/** oclif's base class of commands. */
export const {Command} = require('@oclif/core/command') as typeof OclifCommand;
/** oclif's error classes and helpers. */
export const Errors = require('@oclif/core/errors') as typeof OclifErrors;
/** oclif's flag definitions (`Flags.string(...)`). */
export const Flags = require('@oclif/core/flags') as typeof OclifFlags;
