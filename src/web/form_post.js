// Sends the answer on to the application (OAuth 2.0 Form Post Response Mode): submits the one
// form of the page as soon as it is parsed. Without scripts, the button does the same.
"use strict";
document.forms[0].submit();
