/**
 * The checks of `wgmesh doctor`, in report order. To add one, write a module
 * exporting a {@link DoctorCheck} in this directory and list it here.
 */
import type {DoctorCheck} from '../check.js';
import {clockCheck} from './clock.js';
import {configCheck} from './config.js';
import {daemonCheck} from './daemon.js';
import {dataDirCheck} from './data-dir.js';
import {forwardingCheck} from './forwarding.js';
import {handshakesCheck} from './handshakes.js';
import {ipv6Check} from './ipv6.js';
import {portsCheck} from './ports.js';
import {privilegesCheck} from './privileges.js';
import {toolsCheck} from './tools.js';
import {tunCheck} from './tun.js';
import {wireguardCheck} from './wireguard.js';

/** Every check, in the order the report lists them. */
export const DOCTOR_CHECKS: readonly DoctorCheck[] = [
  configCheck,
  privilegesCheck,
  wireguardCheck,
  toolsCheck,
  tunCheck,
  ipv6Check,
  forwardingCheck,
  portsCheck,
  clockCheck,
  dataDirCheck,
  daemonCheck,
  handshakesCheck,
];
