/**
 * The "Fine-tuning" left-sidebar panel: a strip of tabs (`TABS` in tabs.tsx) over one content area.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import React, { useEffect, useState } from 'react';

import { ITabProps, TABS } from './tabList';

/** The tab shown first: what is running now. */
export const DEFAULT_TAB = 'jobs';

/** Everything a tab receives except `visible`, which the widget tracks. */
export type IStudio = Omit<ITabProps, 'visible'>;

function Sidebar(props: ITabProps & { select: ISignal<FineTuningSidebar, string> }): JSX.Element {
  const [current, setCurrent] = useState(TABS.some(t => t.id === DEFAULT_TAB) ? DEFAULT_TAB : TABS[0].id);
  useEffect(() => {
    const onSelect = (_: unknown, id: string) => setCurrent(id);
    props.select.connect(onSelect);
    return () => {
      props.select.disconnect(onSelect);
    };
  }, [props.select]);
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
              data-tab={t.id}
              aria-selected={t.id === tab.id}
              className={`jp-ft-tab${t.id === tab.id ? ' jp-mod-current' : ''}`}
              onClick={() => setCurrent(t.id)}
            >
              {t.label}
            </button>
          ))}
        </nav>
      </header>
      <section className="jp-ft-content" role="tabpanel" data-tab={tab.id}>
        {tab.render(props)}
      </section>
    </div>
  );
}

/** The Lumino widget placed in the left area; it tells the React tree whether it is visible. */
export class FineTuningSidebar extends ReactWidget {
  private readonly _select = new Signal<FineTuningSidebar, string>(this);

  constructor(private readonly studio: IStudio) {
    super();
    this.addClass('jp-ft-sidebar-widget');
  }

  /** Show the tab `id` (commands use it, e.g. "Upload dataset" selects Datasets). */
  selectTab(id: string): void {
    this._select.emit(id);
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
    return <Sidebar {...this.studio} visible={this.isVisible} select={this._select} />;
  }
}
