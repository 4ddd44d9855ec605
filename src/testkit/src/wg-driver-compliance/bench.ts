/** The per-test state of the WgDriver suite: a fresh driver, and every interface a test named removed after it. */
import {afterEach} from 'vitest';
import {generateIdentity} from '@wgmesh/core';
import type {WgDriver, WgInterfaceSpec, WgInterfaceState} from '@wgmesh/core';

/** What a driver's test file gives the suite. */
export interface WgDriverHarness {
  /** A fresh driver; the suite closes it after each test. */
  create(): Promise<WgDriver>;
  /**
   * A new interface name that no other test on this host uses: wireguard-go's
   * UAPI sockets are shared by every network namespace, so the name must be
   * unique per host. At most 13 characters, so the suite can add two.
   */
  interfaceName(): string;
}

/** A WireGuard key pair in the form drivers take it. */
export interface WgKeyPair {
  privateKey: string;
  publicKey: string;
}

/** A fresh WireGuard key pair. */
export function wgKeyPair(): WgKeyPair {
  const identity = generateIdentity();
  return {privateKey: identity.wgPrivateKey, publicKey: identity.wgPublicKey};
}

/** An interface a test created. */
export interface CreatedInterface {
  driver: WgDriver;
  spec: WgInterfaceSpec;
  keys: WgKeyPair;
  state: WgInterfaceState;
}

/** Makes one driver per test and, after it (failed or not), removes every interface it named and closes the driver. */
export class WgDriverBench {
  private readonly harness: WgDriverHarness;
  private current: WgDriver | undefined;
  private readonly names = new Set<string>();

  /** Call while the suite is defined (it registers an afterEach hook). */
  constructor(harness: WgDriverHarness) {
    this.harness = harness;
    afterEach(async () => {
      const driver = this.current;
      const names = [...this.names];
      this.current = undefined;
      this.names.clear();
      if (!driver) return;
      try {
        for (const name of names) await driver.removeInterface(name);
      } finally {
        await driver.close();
      }
    });
  }

  /** The test's driver, made on first use. */
  async driver(): Promise<WgDriver> {
    this.current ??= await this.harness.create();
    return this.current;
  }

  /** A name unique on the host (with `suffix` appended, two characters at most); removed after the test. */
  name(suffix = ''): string {
    const name = `${this.harness.interfaceName()}${suffix}`;
    this.names.add(name);
    return name;
  }

  /** Create an interface with a fresh key on a port the driver picks, unless `overrides` say otherwise. */
  async createInterface(overrides: Partial<WgInterfaceSpec> = {}): Promise<CreatedInterface> {
    const driver = await this.driver();
    const keys = wgKeyPair();
    const spec: WgInterfaceSpec = {name: overrides.name ?? this.name(), privateKey: keys.privateKey, listenPort: 0, mtu: 1420, ...overrides};
    const state = await driver.ensureInterface(spec);
    return {driver, spec, keys, state};
  }
}
