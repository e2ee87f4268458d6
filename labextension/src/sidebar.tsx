/**
 * The "Fine-tuning" left-sidebar panel: a strip of tabs over one content area. Jobs is the only tab for now;
 * datasets, models and endpoints join by adding an entry to `TABS`.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import React, { useState } from 'react';

import { FineTuningAPI } from './api';
import { JobsTab } from './jobs';

/** What every tab receives. */
export interface ITabProps {
  api: FineTuningAPI;
  visible: boolean;
}

export interface ISidebarTab {
  id: string;
  label: string;
  render: (props: ITabProps) => JSX.Element;
}

export const TABS: ISidebarTab[] = [{ id: 'jobs', label: 'Jobs', render: props => <JobsTab {...props} /> }];

function Sidebar(props: ITabProps): JSX.Element {
  const [current, setCurrent] = useState(TABS[0].id);
  const tab = TABS.find(t => t.id === current) ?? TABS[0];
  return (
    <div className="jp-ft-sidebar">
      <header className="jp-ft-header">
        <h2>Fine-tuning</h2>
        <nav className="jp-ft-tabs" role="tablist">
          {TABS.map(t => (
            <button
              key={t.id}
              role="tab"
              aria-selected={t.id === tab.id}
              className={`jp-ft-tab${t.id === tab.id ? ' jp-mod-current' : ''}`}
              onClick={() => setCurrent(t.id)}
            >
              {t.label}
            </button>
          ))}
        </nav>
      </header>
      <section className="jp-ft-content" role="tabpanel">
        {tab.render(props)}
      </section>
    </div>
  );
}

/** The Lumino widget placed in the left area; it tells the React tree whether it is visible. */
export class FineTuningSidebar extends ReactWidget {
  constructor(private readonly api: FineTuningAPI) {
    super();
    this.addClass('jp-ft-sidebar-widget');
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.update();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.update();
  }

  render(): JSX.Element {
    return <Sidebar api={this.api} visible={this.isVisible} />;
  }
}
