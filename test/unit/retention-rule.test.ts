import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideRetention, type TaggedImage } from '../../core/images/retention-rule.ts';

const now = new Date('2026-06-10T00:00:00Z');
const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000);
const img = (id: string, repository: string, tag: string, ageDays: number): TaggedImage => ({ id, repository, tag, pushedAt: daysAgo(ageDays) });
const tags = (list: TaggedImage[]) => list.map((i) => `${i.repository}:${i.tag}`).sort();

const images = [img('1', 'a', 'v1', 30), img('2', 'a', 'v2', 20), img('3', 'a', 'v3', 5), img('4', 'a', 'v4', 1), img('5', 'b', 'v1', 40)];

describe('retention rule', () => {
  it('keeps each repository’s newest N tags', () => {
    const d = decideRetention(images, { keepNewest: 2, keepDays: null }, now);
    assert.deepEqual(tags(d.delete), ['a:v1', 'a:v2']);
    assert.deepEqual(tags(d.keep), ['a:v3', 'a:v4', 'b:v1'], 'per repository: b keeps its only tag');
  });

  it('keeps tags younger than D days', () => {
    const d = decideRetention(images, { keepNewest: null, keepDays: 10 }, now);
    assert.deepEqual(tags(d.delete), ['a:v1', 'a:v2', 'b:v1']);
  });

  it('with both, keeps a tag either part keeps', () => {
    const d = decideRetention(images, { keepNewest: 1, keepDays: 10 }, now);
    assert.deepEqual(tags(d.delete), ['a:v1', 'a:v2'], 'b:v1 is old but its repository’s newest; a:v3 is not newest but young');
  });

  it('names nothing when the rule has neither part, and orders ties by id', () => {
    assert.deepEqual(decideRetention(images, { keepNewest: null, keepDays: null }, now).delete, []);
    const same = [img('x', 'c', 't1', 3), img('y', 'c', 't2', 3)];
    assert.deepEqual(tags(decideRetention(same, { keepNewest: 1, keepDays: null }, now).keep), ['c:t2']);
    assert.deepEqual(tags(decideRetention([...same].reverse(), { keepNewest: 1, keepDays: null }, now).keep), ['c:t2']);
  });
});
