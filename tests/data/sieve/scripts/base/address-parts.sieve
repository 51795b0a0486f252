require "fileinto";
if address :localpart "from" "alice" { fileinto "lp-alice"; }
if address :domain "from" "example.net" { fileinto "dom-net"; }
if address :all "to" "me@example.com" { fileinto "to-me"; }
if address :domain :matches "from" "*.example" { fileinto "dotexample"; }
