import './base.css';
import './studio-panels.css';
