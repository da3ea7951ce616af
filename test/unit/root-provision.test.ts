// Where a builder pulls a catalog root from when its engine lacks it: Docker Hub's short names through a pull-through
// mirror, as dockerd's registry-mirrors and Harbor's proxy-cache projects name them; other registries left alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mirroredReference, registryOf } from '../../builder/root-provision.ts';

describe('root pulls through a mirror', () => {
  it('names the registry of a reference (Docker Hub for short names)', () => {
    assert.equal(registryOf('debian:bookworm-slim'), 'docker.io');
    assert.equal(registryOf('library/debian:bookworm-slim'), 'docker.io');
    assert.equal(registryOf('docker.io/library/debian:bookworm-slim'), 'docker.io');
    assert.equal(registryOf('127.0.0.1:5000/mirror/library/debian:bookworm-slim'), '127.0.0.1:5000');
    assert.equal(registryOf('harbor.example.com/hub/library/debian:bookworm-slim'), 'harbor.example.com');
    assert.equal(registryOf('localhost/debian:12'), 'localhost');
  });

  it('maps Docker Hub references under the mirror, official images under library/', () => {
    assert.equal(mirroredReference('debian:bookworm-slim', undefined), 'debian:bookworm-slim');
    assert.equal(mirroredReference('debian:bookworm-slim', 'harbor.example.com/dockerhub'), 'harbor.example.com/dockerhub/library/debian:bookworm-slim');
    assert.equal(mirroredReference('docker.io/library/debian:bookworm-slim', '127.0.0.1:5001/'), '127.0.0.1:5001/library/debian:bookworm-slim');
    assert.equal(mirroredReference('nvidia/cuda:12.4.1-base-ubuntu22.04', 'mirror.lan:5000'), 'mirror.lan:5000/nvidia/cuda:12.4.1-base-ubuntu22.04');
    assert.equal(mirroredReference('debian@sha256:' + 'a'.repeat(64), 'm.lan'), 'm.lan/library/debian@sha256:' + 'a'.repeat(64));
  });

  it('leaves references to other registries alone: a mirror stands in for Docker Hub only', () => {
    assert.equal(mirroredReference('ghcr.io/acme/base:1', 'harbor.example.com/dockerhub'), 'ghcr.io/acme/base:1');
  });
});
