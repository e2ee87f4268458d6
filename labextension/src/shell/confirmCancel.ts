/**
 * The one confirmation a person answers before a job is cancelled, from the Jobs tab or the job view.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';

export async function confirmCancel(job: { id: string; state: string }): Promise<boolean> {
  const answer = await showDialog({
    title: 'Cancel fine-tuning job?',
    body: `${job.id} is ${job.state}. Cancelling stops it and marks it cancelled.`,
    buttons: [Dialog.cancelButton({ label: 'Keep' }), Dialog.warnButton({ label: 'Cancel job' })]
  });
  return answer.button.accept;
}
