"""The web app: REST API and a single page for painting hints (pip install 'swishpaint[serve]')."""
