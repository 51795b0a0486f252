require "fileinto";
if header :matches "subject" "*!!!*" { fileinto "bangs"; }
if header :matches "subject" "*\?*" { fileinto "qmark"; }
if header :matches "subject" "Cheap?pills*" { fileinto "q-space"; }
