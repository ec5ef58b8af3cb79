import { formPortalProvider } from '../form-portal/form-portal-provider.js';
import { octotelDescriptor } from './descriptor.js';
import { octotelPortal } from './portal-map.js';

/** Octotel: server-rendered pages, a TOTP second factor. */
export default formPortalProvider(octotelDescriptor, octotelPortal);
