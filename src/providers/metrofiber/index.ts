import { formPortalProvider } from '../form-portal/form-portal-provider.js';
import { metrofiberDescriptor } from './descriptor.js';
import { metrofiberPortal } from './portal-map.js';

/** MetroFiber: legacy forms with CSRF tokens and a notice page. */
export default formPortalProvider(metrofiberDescriptor, metrofiberPortal);
