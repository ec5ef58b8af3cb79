import { formPortalProvider } from '../form-portal/form-portal-provider.js';
import { openserveDescriptor } from './descriptor.js';
import { openservePortal } from './portal-map.js';

/** Openserve: a client-rendered single page over a JSON API, a cancel dialog. */
export default formPortalProvider(openserveDescriptor, openservePortal);
