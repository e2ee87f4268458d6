/**
 * Pure logic of the jobs list's live updates: `GET jobs?since=<cursor>` answers only the jobs changed since the
 * cursor, so an idle sidebar costs one small request per tick instead of the full list. A server without cursors
 * (no `cursor` in the answer) sends the full list each time, and the list is replaced.
 */
import type { JobSummary, JobsPage } from '../api';

export interface ILiveJobs {
  /** Newest first. */
  jobs: JobSummary[];
  cursor: string | number | null;
}

export const EMPTY: ILiveJobs = { jobs: [], cursor: null };

/** The list after one answer: changed jobs replace their old row, new ones are added; newest first. */
export function applyPage(current: ILiveJobs, page: JobsPage): ILiveJobs {
  const hasCursor = page.cursor !== undefined && page.cursor !== null;
  if (!hasCursor || current.cursor === null || page.full) {
    return { jobs: newestFirst(page.jobs), cursor: hasCursor ? page.cursor! : null };
  }
  const byId = new Map(current.jobs.map(j => [j.id, j]));
  for (const job of page.jobs) {
    byId.set(job.id, job);
  }
  return { jobs: newestFirst([...byId.values()]), cursor: page.cursor! };
}

function newestFirst(jobs: JobSummary[]): JobSummary[] {
  return jobs.slice().sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1));
}
