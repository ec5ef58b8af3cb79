import { formPortalProvider } from '../form-portal/form-portal-provider.js';
import { evotelDescriptor } from './descriptor.js';
import { evotelPortal } from './portal-map.js';

/** Evotel: two-step sign-in, cancellations filed as tickets. */
export default formPortalProvider(evotelDescriptor, evotelPortal);
